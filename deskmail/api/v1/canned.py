"""Canned answers, global and per mailbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from deskmail.api.auth import actor
from deskmail.api.v1.shapes import Shape
from deskmail.api.v1.types import Id
from deskmail.outbound.models import CannedAnswer
from deskmail.services import canned

router = Router(tags=["canned answers"])


class CannedOut(Shape):
    id: int
    name: str
    body: str = Field(description="Django template language over ticket, contact, agent, mailbox")
    mailbox: str | None = Field(description="null: a global answer")
    created_at: dt.datetime
    updated_at: dt.datetime


def _out(row: CannedAnswer) -> CannedOut:
    return CannedOut(
        id=row.pk,
        name=row.name,
        body=row.body,
        mailbox=row.mailbox.name if row.mailbox_id and row.mailbox else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class CannedQuery(Schema):
    mailbox: str | None = Field(
        None, description="what an agent may pick in this mailbox: its own, then global ones"
    )


@router.get("/canned-answers", response=list[CannedOut], summary="Canned answers")
def list_canned_answers(request: HttpRequest, filters: Query[CannedQuery]) -> list[CannedOut]:
    return [_out(row) for row in canned.answers(actor(request), filters.mailbox)]


@router.get("/canned-answers/{pk}", response=CannedOut, summary="One canned answer")
def get_canned_answer(request: HttpRequest, pk: Id) -> CannedOut:
    return _out(canned.answer(actor(request), pk))


class CannedIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=100_000)
    mailbox: str | None = Field(None, description="a mailbox's own answer; null: global")


@router.post("/canned-answers", response={201: CannedOut}, summary="Add a canned answer (admins)")
def create_canned_answer(request: HttpRequest, payload: CannedIn) -> Any:
    row = canned.create(
        actor(request), name=payload.name, body=payload.body, mailbox=payload.mailbox
    )
    return Status(201, _out(row))


class CannedPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, min_length=1, max_length=100_000)


@router.patch("/canned-answers/{pk}", response=CannedOut, summary="Change a canned answer (admins)")
def update_canned_answer(request: HttpRequest, pk: Id, payload: CannedPatch) -> CannedOut:
    return _out(canned.update(actor(request), pk, name=payload.name, body=payload.body))


@router.delete(
    "/canned-answers/{pk}", response={204: None}, summary="Delete a canned answer (admins)"
)
def delete_canned_answer(request: HttpRequest, pk: Id) -> Status[None]:
    canned.delete(actor(request), pk)
    return Status(204, None)
