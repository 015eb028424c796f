"""The caller themselves, and their personal access tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from deskmail.api.auth import actor
from deskmail.api.v1.shapes import Shape
from deskmail.api.v1.types import Id
from deskmail.apitokens.models import AccessToken
from deskmail.services import access
from deskmail.services import tokens as access_tokens
from deskmail.services.tokens import MAX_DAYS

router = Router(tags=["me and my tokens"])


class Membership(Shape):
    mailbox: str
    role: str


class MeOut(Shape):
    id: int
    email: str
    name: str
    role: str
    mailboxes: list[Membership] = Field(description="where they work; admins see every mailbox")


@router.get("/me", response=MeOut, summary="Who the token belongs to")
def get_me(request: HttpRequest) -> MeOut:
    who = actor(request)
    user = access.user_of(who)
    names = dict(access.mailboxes(who).values_list("pk", "name"))
    memberships = [
        Membership(mailbox=names[pk], role="supervisor")
        for pk in sorted(who.supervises)
        if pk in names
    ] + [Membership(mailbox=names[pk], role="agent") for pk in sorted(who.agent_of) if pk in names]
    return MeOut(
        id=user.pk,
        email=user.email or "",
        name=who.name,
        role=str(who.role),
        mailboxes=sorted(memberships, key=lambda m: m.mailbox),
    )


class TokenOut(Shape):
    id: int
    name: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    state: str = Field(description="active, expired or revoked")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _out(row: AccessToken) -> TokenOut:
    return TokenOut(
        id=row.pk,
        name=row.name,
        prefix=row.prefix,
        state=row.state_at(timezone.now()),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class TokenIn(Schema):
    name: str = Field("", max_length=200)
    expires_days: int | None = Field(None, ge=1, le=MAX_DAYS, description="null: never")


class NewTokenOut(TokenOut):
    token: str = Field(description="shown this once; only a hash of it is kept")


@router.get("/tokens", response=list[TokenOut], summary="My tokens")
def list_tokens(request: HttpRequest) -> list[TokenOut]:
    return [_out(row) for row in access_tokens.tokens(actor(request))]


@router.post("/tokens", response={201: NewTokenOut}, summary="Make a token for myself")
def create_token(request: HttpRequest, response: HttpResponse, payload: TokenIn) -> Any:
    who = actor(request)
    row, token = access_tokens.create(
        who, access.user_of(who), name=payload.name, expires_days=payload.expires_days
    )
    response["Location"] = f"/api/v1/tokens/{row.pk}"
    response["Cache-Control"] = "no-store"
    return Status(201, NewTokenOut(**_out(row).model_dump(), token=token))


@router.delete("/tokens/{pk}", response={204: None}, summary="Revoke a token")
def revoke_token(request: HttpRequest, pk: Id) -> Status[None]:
    """My own tokens; an admin may revoke anyone's."""
    access_tokens.revoke(actor(request), pk)
    return Status(204, None)
