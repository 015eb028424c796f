"""What people do to tickets: reply, note, forward, assign, set the status, tag, delete.

Each action checks the actor through `access` first, so a person who may not
see a ticket gets NotFound whatever entry point they came through. Mail goes
out through the outbox (`deskmail.outbound.queue`), written in the same
transaction as the change that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.compose import OutgoingAttachment
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import OutboundError, queue_forward, queue_reply
from deskmail.outbound.send import retry as retry_outbox_item
from deskmail.routing.agent_events import after_agent_reply, after_update
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import InternalNote, Message, Tag, Ticket

TICKET_FIELDS_ON_STATUS = ["status", "status_changed_at", "resolved_at", "closed_at", "updated_at"]


def _sender(actor: Actor, name: str | None) -> Mailbox | None:
    return access.mailbox(actor, name) if name else None


def reply(
    actor: Actor,
    ticket: Ticket,
    *,
    body_text: str | None = None,
    body_html: str | None = None,
    to: Iterable[str] | None = None,
    cc: Iterable[str] | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
    mailbox: str | None = None,
    public_note: bool = False,
    status: str | None = None,
) -> OutboxItem:
    """Queue a reply (or a public comment, the case response) to the ticket's customer.

    To and Cc default to the recipients rules (the contact; the latest other
    sender and the kept Ccs); our own addresses are never mailed.
    """
    access.require_act_on(actor, ticket)
    if status is not None and status not in Ticket.Status.values:
        raise Invalid(f"no status {status!r}", field="status")
    try:
        with transaction.atomic():
            item = queue_reply(
                ticket,
                body_text=body_text,
                body_html=body_html,
                agent=access.user_of(actor),
                to=to,
                cc=cc,
                attachments=attachments,
                mailbox=_sender(actor, mailbox),
                kind=OutboxItem.Kind.NOTE if public_note else OutboxItem.Kind.REPLY,
                status=status,
            )
            after_agent_reply(ticket, item, timezone.now())
    except OutboundError as exc:
        raise Invalid(str(exc)) from exc
    return item


def forward(
    actor: Actor,
    message: Message,
    *,
    to: Iterable[str],
    cc: Iterable[str] = (),
    body_text: str = "",
    include_previous: bool = False,
    attachments: Sequence[OutgoingAttachment] = (),
    mailbox: str | None = None,
) -> OutboxItem:
    """Forward one of a ticket's messages to a third party; their reply joins the ticket."""
    if message.ticket is None:
        raise NotFound(f"no message {message.pk}")
    access.require_act_on(actor, message.ticket)
    try:
        return queue_forward(
            message,
            to=to,
            cc=cc,
            body_text=body_text,
            agent=access.user_of(actor),
            include_previous=include_previous,
            attachments=attachments,
            mailbox=_sender(actor, mailbox),
        )
    except OutboundError as exc:
        raise Invalid(str(exc)) from exc


def note(actor: Actor, ticket: Ticket, body: str, mentions: Iterable[int] = ()) -> InternalNote:
    """An internal note: for colleagues, never sent to the customer.

    `mentions` (user ids of the colleagues it names) travel with its event, so
    that their consoles can tell them.
    """
    access.require_act_on(actor, ticket)
    if not body.strip():
        raise Invalid("the note is empty", field="body")
    with transaction.atomic():
        created = InternalNote.objects.create(
            ticket=ticket, body=body, author_id=actor.user_id, kind=InternalNote.Kind.NOTE
        )
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
        emit(
            Event.Kind.NOTE_CREATED,
            mailbox_id=ticket.mailbox_id,
            ticket=ticket,
            note=created.pk,
            author=actor.name,
            mentions=sorted(set(mentions)),
        )
    return created


# While `one_update` runs: the tickets it changed, whose `updated` triggers wait for its end.
_changing: ContextVar[dict[int, Ticket] | None] = ContextVar("_changing", default=None)


def ticket_updated(actor: Actor, ticket: Ticket, **changes: Any) -> None:
    """A ticket.updated event naming what changed, then the mailbox's `updated` triggers
    (both in the caller's transaction)."""
    emit(
        Event.Kind.TICKET_UPDATED,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        by=actor.name,
        changes=changes,
    )
    if "deleted" in changes:
        return
    waiting = _changing.get()
    if waiting is None:
        after_update(ticket, timezone.now())
    else:
        waiting[ticket.pk] = ticket


@contextmanager
def one_update() -> Iterator[None]:
    """Several changes made as one: the `updated` triggers run once, after the last."""
    if _changing.get() is not None:
        yield
        return
    waiting: dict[int, Ticket] = {}
    token = _changing.set(waiting)
    try:
        yield
    finally:
        _changing.reset(token)
    for ticket in waiting.values():
        after_update(ticket, timezone.now())


def set_status(actor: Actor, ticket: Ticket, status: str) -> bool:
    """Move the ticket to a status; False when it already was so."""
    access.require_act_on(actor, ticket)
    if status not in Ticket.Status.values:
        raise Invalid(f"no status {status!r}", field="status")
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        was = locked.status
        if not locked.set_status(status, timezone.now()):
            return False
        locked.save(update_fields=TICKET_FIELDS_ON_STATUS)
        ticket_updated(actor, locked, status=[was, status])
    ticket.refresh_from_db()
    return True


def assign(actor: Actor, ticket: Ticket, assignee_id: int | None) -> None:
    """Give the ticket to a person who may see its mailbox, or to nobody."""
    access.require_act_on(actor, ticket)
    if assignee_id is not None:
        user = get_user_model().objects.filter(pk=assignee_id, is_active=True).first()
        if user is None or not access.actor_for(user).sees(ticket.mailbox_id):
            raise Invalid(
                "that person is not on this mailbox's team and cannot take the ticket",
                field="assignee",
            )
    with transaction.atomic():
        was = ticket.assignee_id
        Ticket.objects.filter(pk=ticket.pk).update(
            assignee_id=assignee_id, updated_at=timezone.now()
        )
        ticket_updated(actor, ticket, assignee=[was, assignee_id])
    ticket.refresh_from_db()


def set_tags(
    actor: Actor, ticket: Ticket, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> list[str]:
    """Add and remove tags (created on first use); the ticket's tags afterwards."""
    access.require_act_on(actor, ticket)
    with transaction.atomic():
        for name in {n.strip() for n in add if n.strip()}:
            ticket.tags.add(Tag.objects.get_or_create(name=name[:100])[0])
        gone = [n.strip() for n in remove if n.strip()]
        if gone:
            ticket.tags.remove(*Tag.objects.filter(name__in=gone))
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
        tags = sorted(ticket.tags.values_list("name", flat=True))
        ticket_updated(actor, ticket, tags=tags)
    return tags


def delete(actor: Actor, ticket: Ticket) -> None:
    """Delete a ticket with its messages, notes and outbox rows."""
    access.require_act_on(actor, ticket)
    with transaction.atomic():
        ticket_updated(actor, ticket, deleted=True)
        ticket.delete()


def retry_outbox(actor: Actor, item: OutboxItem) -> bool:
    """Put a failed (or waiting) outgoing mail back in line, due now."""
    access.outbox_item(actor, item.pk)
    return retry_outbox_item(item)
