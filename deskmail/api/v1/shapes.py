"""What the API returns: the shapes (schemas) of tickets, messages, people, outbox rows ...

Each shape has a function that builds it from a row, so that every endpoint
answers with the same fields for the same thing. Times are ISO-8601 in UTC;
tickets are named by number, everything else by its id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from pydantic import BaseModel

from deskmail.outbound.models import OutboxItem
from deskmail.tickets.models import (
    Attachment,
    Contact,
    InternalNote,
    Message,
    Ticket,
    TicketType,
)


class Shape(BaseModel):
    """An answer's shape: plain pydantic (built from keywords, never read from rows), which
    spares ninja's attribute-reading wrapper on every one of a list's items."""


class Person(Shape):
    id: int
    email: str
    name: str


def person(user: Any) -> Person | None:
    if user is None:
        return None
    name = (user.get_full_name() or user.get_username()).strip()
    return Person(id=user.pk, email=user.email or "", name=name)


class ContactOut(Shape):
    id: int
    address: str
    name: str
    organisation: str
    created_at: dt.datetime


def contact(row: Contact | None) -> ContactOut | None:
    if row is None:
        return None
    return ContactOut(
        id=row.pk,
        address=row.address,
        name=row.name,
        organisation=row.organisation,
        created_at=row.created_at,
    )


class TicketOut(Shape):
    number: int
    mailbox: str
    subject: str
    status: str
    priority: str
    queue: str | None
    type: str | None
    custom_fields: dict[str, Any]
    tags: list[str]
    assignee: Person | None
    contact: ContactOut | None
    participants: list[str]
    linked_from: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    first_mail_at: dt.datetime
    status_changed_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class Related:
    """What a list reads for all its tickets at once, by ticket id: tag names, type names,
    and the numbers of the tickets they were linked from."""

    tags: dict[int, list[str]]
    types: dict[int, str]
    linked: dict[int, int]

    @classmethod
    def of(cls, rows: list[Ticket]) -> Related:
        tags: dict[int, list[str]] = {}
        through = Ticket.tags.through.objects.filter(ticket_id__in=[r.pk for r in rows])
        for ticket_id, name in through.values_list("ticket_id", "tag__name").order_by("tag__name"):
            tags.setdefault(ticket_id, []).append(name)
        type_ids = {r.type_id for r in rows if r.type_id}
        types = dict(TicketType.objects.filter(pk__in=type_ids).values_list("pk", "name"))
        linked_ids = {r.linked_from_id for r in rows if r.linked_from_id}
        numbers = dict(Ticket.objects.filter(pk__in=linked_ids).values_list("pk", "number"))
        return cls(tags, types, numbers)


def ticket(row: Ticket, related: Related | None = None) -> TicketOut:
    """A ticket; a list passes what it read for all its tickets at once."""
    related = related or Related.of([row])
    return TicketOut(
        number=row.number,
        mailbox=row.mailbox.name,
        subject=row.title,
        status=row.status,
        priority=row.priority,
        queue=row.queue.name if row.queue_id and row.queue else None,
        type=related.types.get(row.type_id) if row.type_id else None,
        custom_fields=dict(row.custom_fields or {}),
        tags=related.tags.get(row.pk, []),
        assignee=person(row.assignee) if row.assignee_id else None,
        contact=contact(row.contact) if row.contact_id else None,
        participants=list(row.participants or []),
        linked_from=related.linked.get(row.linked_from_id) if row.linked_from_id else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        first_mail_at=row.first_mail_at,
        status_changed_at=row.status_changed_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
    )


class AttachmentOut(Shape):
    id: int
    filename: str
    content_type: str
    size: int
    inline: bool
    content_id: str
    url: str


def attachment(row: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.pk,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        inline=row.inline,
        content_id=row.content_id,
        url=reverse("api:attachment_content", kwargs={"pk": row.pk}),
    )


class OutboxState(Shape):
    id: int
    status: str
    attempts: int
    last_error: str
    sent_at: dt.datetime | None


class MessageOut(Shape):
    id: int
    ticket: int
    direction: str
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    date: dt.datetime | None
    received_at: dt.datetime
    headers: dict[str, list[str]]
    body_text: str
    body_html: str | None
    reply_text: str
    auto_submitted: bool
    bounce: bool
    excluded: bool
    excluded_reason: str
    trace: list[dict[str, Any]]
    attachments: list[AttachmentOut]
    raw_url: str
    outbox: OutboxState | None


def _headers(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    return {
        str(name): [str(v) for v in (values if isinstance(values, list) else [values])]
        for name, values in value.items()
    }


def message(row: Message, number: int) -> MessageOut:
    """A message of ticket `number`; HTML bodies are stored sanitised (nh3) and sent so."""
    item = getattr(row, "outbox_item", None) if row.direction == Message.Direction.OUT else None
    return MessageOut(
        id=row.pk,
        ticket=number,
        direction=row.direction,
        message_id=row.message_id,
        in_reply_to=row.in_reply_to,
        references=[str(r) for r in row.references or []],
        subject=row.subject,
        from_address=row.from_address,
        from_name=row.from_name,
        to=[str(a) for a in row.to or []],
        cc=[str(a) for a in row.cc or []],
        date=row.date,
        received_at=row.received_at,
        headers=_headers(row.headers),
        body_text=row.body_text,
        body_html=row.body_html,
        reply_text=row.reply_text,
        auto_submitted=row.auto_submitted,
        bounce=row.bounce,
        excluded=row.excluded,
        excluded_reason=row.excluded_reason,
        trace=[entry for entry in row.trace or [] if isinstance(entry, dict)],
        attachments=[attachment(a) for a in row.attachments.all()],
        raw_url=reverse("api:message_raw", kwargs={"pk": row.pk}),
        outbox=(
            OutboxState(
                id=item.pk,
                status=item.status,
                attempts=item.attempts,
                last_error=item.last_error,
                sent_at=item.sent_at,
            )
            if item is not None
            else None
        ),
    )


class OutboxOut(Shape):
    id: int
    kind: str
    status: str
    ticket: int
    mailbox: str
    message: int | None
    message_id: str
    to: list[str]
    cc: list[str]
    subject: str
    attempts: int
    next_attempt_at: dt.datetime
    last_attempt_at: dt.datetime | None
    last_error: str
    refused: dict[str, Any]
    created_at: dt.datetime
    sent_at: dt.datetime | None


def outbox_item(row: OutboxItem) -> OutboxOut:
    outgoing = row.outgoing
    assert row.ticket is not None  # access.outbox_items: a ticket's outgoing mail only
    sender = row.mailbox if row.mailbox_id and row.mailbox else row.ticket.mailbox
    return OutboxOut(
        id=row.pk,
        kind=row.kind,
        status=row.status,
        ticket=row.ticket.number,
        mailbox=sender.name,
        message=row.outgoing_id,
        message_id=row.message_id or "",
        to=[str(a) for a in outgoing.to] if outgoing else [row.recipient],
        cc=[str(a) for a in outgoing.cc] if outgoing else [],
        subject=outgoing.subject if outgoing else "",
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_error=row.last_error,
        refused=dict(row.refused or {}),
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


class NoteOut(Shape):
    id: int
    ticket: int
    kind: str
    body: str
    author: Person | None
    message: int | None
    created_at: dt.datetime


def note(row: InternalNote, number: int) -> NoteOut:
    return NoteOut(
        id=row.pk,
        ticket=number,
        kind=row.kind,
        body=row.body,
        author=person(row.author) if row.author_id else None,
        message=row.message_id,
        created_at=row.created_at,
    )
