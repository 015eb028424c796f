"""Queues, ticket types with their fields, tags, and contacts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from deskmail.api.auth import actor
from deskmail.api.v1 import shapes
from deskmail.api.v1.shapes import ContactOut, Shape
from deskmail.api.v1.types import Id
from deskmail.services import access, catalog

router = Router(tags=["queues, types, tags, contacts"])


class QueueOut(Shape):
    id: int
    name: str


class TicketTypeOut(Shape):
    id: int
    name: str
    fields: list[dict[str, Any]] = Field(description="[{name, label, kind}]: its custom fields")


class TagOut(Shape):
    name: str


@router.get("/queues", response=list[QueueOut], summary="Queues")
def list_queues(request: HttpRequest) -> list[QueueOut]:
    return [QueueOut(id=q.pk, name=q.name) for q in catalog.queues(actor(request))]


@router.get("/ticket-types", response=list[TicketTypeOut], summary="Ticket types and their fields")
def list_ticket_types(request: HttpRequest) -> list[TicketTypeOut]:
    return [
        TicketTypeOut(
            id=t.pk, name=t.name, fields=[f for f in t.fields or [] if isinstance(f, dict)]
        )
        for t in catalog.ticket_types(actor(request))
    ]


@router.get("/tags", response=list[TagOut], summary="Tags in use")
def list_tags(request: HttpRequest) -> list[TagOut]:
    """Tags on the tickets the caller may see."""
    return [TagOut(name=t.name) for t in catalog.tags(actor(request))]


class ContactQuery(Schema):
    q: str = Field("", max_length=500, description="words in the address or name")
    cursor: str | None = Field(None, max_length=30)
    limit: int = Field(50, ge=1, le=catalog.MAX_LIMIT)


class ContactPage(Shape):
    items: list[ContactOut]
    next_cursor: str | None


class ContactDetail(ContactOut):
    tickets: list[int] = Field(description="numbers of their tickets the caller may see")


@router.get("/contacts", response=ContactPage, summary="Contacts")
def list_contacts(request: HttpRequest, filters: Query[ContactQuery]) -> ContactPage:
    """The people who wrote to (or were written to by) the caller's mailboxes."""
    page = catalog.contact_page(
        actor(request), filters.q, limit=filters.limit, after=filters.cursor
    )
    return ContactPage(
        items=[c for c in (shapes.contact(row) for row in page.items) if c is not None],
        next_cursor=page.next_cursor,
    )


@router.get("/contacts/{pk}", response=ContactDetail, summary="One contact")
def get_contact(request: HttpRequest, pk: Id) -> ContactDetail:
    who = actor(request)
    row = catalog.contact(who, pk)
    numbers = access.tickets(who).filter(contact=row).order_by("number")
    summary = shapes.contact(row)
    assert summary is not None
    return ContactDetail(
        **summary.model_dump(), tickets=list(numbers.values_list("number", flat=True))
    )
