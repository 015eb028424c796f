"""The outbox: mail waiting to go out, mail that failed (with the server's words), retry."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from deskmail.api.auth import actor
from deskmail.api.v1 import shapes
from deskmail.api.v1.shapes import OutboxOut, Shape
from deskmail.api.v1.types import Id
from deskmail.services import access, actions
from deskmail.services import outbox as outbox_service
from deskmail.services.errors import Invalid

router = Router(tags=["outbox"])

OutboxStatus = Literal["pending", "sending", "sent", "failed", "skipped"]


class OutboxQuery(Schema):
    status: list[OutboxStatus] = Field(
        [], description="left out: pending, sending and failed (repeatable)"
    )
    ticket: Id | None = Field(None, description="one ticket's mail")
    cursor: str | None = Field(None, max_length=30)
    limit: int = Field(50, ge=1, le=outbox_service.MAX_LIMIT)


class OutboxPage(Shape):
    items: list[OutboxOut]
    next_cursor: str | None


@router.get("/outbox", response=OutboxPage, summary="The outbox")
def list_outbox(request: HttpRequest, filters: Query[OutboxQuery]) -> OutboxPage:
    """Mail of the caller's mailboxes, newest first."""
    page = outbox_service.outbox_page(
        actor(request),
        filters.status,
        ticket=filters.ticket,
        limit=filters.limit,
        after=filters.cursor,
    )
    return OutboxPage(
        items=[shapes.outbox_item(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.get("/outbox/{pk}", response=OutboxOut, summary="One outgoing mail")
def get_outbox_item(request: HttpRequest, pk: Id) -> OutboxOut:
    return shapes.outbox_item(access.outbox_item(actor(request), pk))


@router.post("/outbox/{pk}/retry", response=OutboxOut, summary="Send a failed mail again")
def retry_outbox_item(request: HttpRequest, pk: Id) -> OutboxOut:
    """Put a failed (or waiting) mail back in line, due now."""
    who = actor(request)
    item = access.outbox_item(who, pk)
    if not actions.retry_outbox(who, item):
        raise Invalid(f"outbox row {pk} is {item.status}: only failed or pending mail", field="pk")
    return shapes.outbox_item(access.outbox_item(who, pk))
