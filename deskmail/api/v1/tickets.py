"""Tickets: the list (filters, cursor pages), new outbound tickets, one, changes, removal."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from deskmail.api.auth import actor
from deskmail.api.v1 import shapes
from deskmail.api.v1.shapes import OutboxOut, Shape, TicketOut
from deskmail.api.v1.types import Id, IsoDateTime
from deskmail.services import access, actions, new_tickets, queries, ticket_fields
from deskmail.services.queries import TicketFilter

router = Router(tags=["tickets"])

StatusName = Literal["new", "open", "pending", "resolved", "closed"]
PriorityName = Literal["low", "normal", "high", "urgent"]
ViewName = Literal["mine", "unassigned", "open", "pending", "closed", "all", "awaiting"]
TagName = Annotated[str, Field(min_length=1, max_length=100)]


class TicketQuery(Schema):
    view: ViewName = Field("all", description="a preset: the console's views")
    status: list[StatusName] = Field([], description="any of these statuses (repeatable)")
    mailbox: list[str] = Field([], description="mailbox names (repeatable)")
    queue: list[str] = Field([], description="queue names (repeatable)")
    priority: list[PriorityName] = Field([], description="(repeatable)")
    assignee: list[Id] = Field([], description="user ids (repeatable)")
    tag: list[str] = Field([], description="tickets with every one of these tags")
    created_from: IsoDateTime | None = Field(None, description="created at or after")
    created_to: IsoDateTime | None = Field(None, description="created before")
    q: str = Field("", max_length=500, description="words in the subject or the sender")
    cursor: str | None = Field(None, max_length=500, description="from the previous page")
    limit: int = Field(50, ge=1, le=queries.MAX_LIMIT)
    total: bool = Field(False, description="also count every matching ticket (slower)")


class TicketPage(Shape):
    items: list[TicketOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last")
    total: int | None = Field(description="every matching ticket, when asked with ?total=true")


@router.get("/tickets", response=TicketPage, summary="List tickets")
def list_tickets(request: HttpRequest, filters: Query[TicketQuery]) -> TicketPage:
    """Tickets the caller may see, most recently updated first, a page at a time.

    Pages are cut by a cursor, not an offset: a ticket that changes meanwhile
    never makes a page repeat or skip one.
    """
    where = TicketFilter(
        view=filters.view,
        status=list(filters.status),
        mailbox=filters.mailbox,
        queue=filters.queue,
        priority=list(filters.priority),
        assignee=filters.assignee,
        tags=filters.tag,
        created_from=filters.created_from,
        created_to=filters.created_to,
        text=filters.q,
    )
    page = queries.ticket_page(
        actor(request),
        where,
        limit=filters.limit,
        cursor=filters.cursor,
        with_total=filters.total,
    )
    related = shapes.Related.of(page.items)
    return TicketPage(
        items=[shapes.ticket(t, related) for t in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
    )


class NewTicketIn(Schema):
    mailbox: str = Field(description="the mailbox it belongs to and is sent from")
    to: list[str] = Field(min_length=1, max_length=50)
    cc: list[str] = Field([], max_length=50)
    subject: str = Field(min_length=1, max_length=1000)
    body_text: str | None = Field(None, max_length=1_000_000)
    body_html: str | None = Field(None, max_length=2_000_000)
    status: StatusName = "open"
    priority: PriorityName | None = None


class NewTicketOut(Shape):
    ticket: TicketOut
    outbox: OutboxOut


@router.post("/tickets", response={201: NewTicketOut}, summary="Start a ticket with an email")
def create_ticket(request: HttpRequest, response: HttpResponse, payload: NewTicketIn) -> Any:
    """A new ticket whose first message is our mail to `to`, queued in the outbox."""
    ticket, item = new_tickets.open_outbound(
        actor(request),
        mailbox=payload.mailbox,
        to=payload.to,
        cc=payload.cc,
        subject=payload.subject,
        body_text=payload.body_text,
        body_html=payload.body_html,
        status=payload.status,
        priority=payload.priority,
    )
    response["Location"] = f"/api/v1/tickets/{ticket.number}"
    return Status(201, NewTicketOut(ticket=shapes.ticket(ticket), outbox=shapes.outbox_item(item)))


@router.get("/tickets/{number}", response=TicketOut, summary="One ticket")
def get_ticket(request: HttpRequest, number: Id) -> TicketOut:
    return shapes.ticket(access.ticket(actor(request), number))


class TicketPatch(Schema):
    """Only the fields sent are changed; null clears queue, type and assignee."""

    status: StatusName | None = None
    priority: PriorityName | None = None
    queue: str | None = Field(None, description="a queue's name")
    type: str | None = Field(None, description="a ticket type's name")
    assignee: Id | str | None = Field(None, description="a user id or address")
    tags: list[TagName] | None = Field(None, max_length=100, description="the whole set of tags")
    custom_fields: dict[str, str | int | float | bool | None] | None = Field(
        None, description="fields to set; null removes one"
    )


@router.patch("/tickets/{number}", response=TicketOut, summary="Change a ticket")
def update_ticket(request: HttpRequest, number: Id, payload: TicketPatch) -> TicketOut:
    """Status, priority, queue, type, custom fields, tags and assignee, all or nothing."""
    who = actor(request)
    ticket = access.ticket(who, number)
    sent = payload.model_fields_set
    unset = ticket_fields.UNSET
    change = ticket_fields.Change(
        status=payload.status,
        priority=payload.priority,
        queue=payload.queue if "queue" in sent else unset,
        type=payload.type if "type" in sent else unset,
        assignee=payload.assignee if "assignee" in sent else unset,
        tags=payload.tags,
        custom_fields=payload.custom_fields,
    )
    return shapes.ticket(ticket_fields.update(who, ticket, change))


@router.delete("/tickets/{number}", response={204: None}, summary="Delete a ticket")
def delete_ticket(request: HttpRequest, number: Id) -> Status[None]:
    """The ticket with its messages, notes and outbox rows; this cannot be undone."""
    who = actor(request)
    actions.delete(who, access.ticket(who, number))
    return Status(204, None)
