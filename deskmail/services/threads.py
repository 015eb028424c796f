"""A ticket's thread as people read it: its mail and notes in one timeline.

Each item says what it is: mail from outside (the customer or anyone else who
wrote in), our own mail (replies, forwards, acknowledgements, with their
outbox state), internal notes, delivery failures, and the activity written on
the ticket (merged, split, transferred, snoozed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from deskmail.outbound.models import OutboxItem
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.tickets.models import Attachment, InternalNote, Message, Ticket

KIND_LABELS = {
    "incoming": "Customer",
    "ours": "Our reply",
    "note": "Internal note",
    "failure": "Delivery failure",
    "activity": "Activity",
}


@dataclass(frozen=True)
class Item:
    kind: str  # incoming | ours | note | failure | activity
    at: dt.datetime
    message: Message | None = None
    note: InternalNote | None = None

    @property
    def label(self) -> str:
        if self.message is not None and self.message.direction == Message.Direction.OUT:
            outbox = getattr(self.message, "outbox_item", None)
            if outbox is not None:
                return {
                    OutboxItem.Kind.FORWARD: "Forward",
                    OutboxItem.Kind.AUTO_ACK: "Acknowledgement",
                    OutboxItem.Kind.AUTO_REPLY: "Automatic answer",
                    OutboxItem.Kind.NOTE: "Public comment",
                }.get(outbox.kind, "Our reply")
        return KIND_LABELS[self.kind]

    @property
    def anchor(self) -> str:
        if self.message is not None:
            return f"message-{self.message.pk}"
        assert self.note is not None
        return f"note-{self.note.pk}"


def outbox_state(item: OutboxItem | None, now: dt.datetime | None = None) -> str:
    """queued, undoable (in its undo window), sending, sent, failed or skipped."""
    if item is None:
        return ""
    now = now or timezone.now()
    if item.status == OutboxItem.Status.PENDING:
        if item.send_after is not None and item.send_after > now and item.attempts == 0:
            return "undoable"
        return "queued"
    return str(item.status)


def timeline(actor: Actor, number: int) -> tuple[Ticket, list[Item]]:
    """The ticket and everything on it, oldest first."""
    ticket = access.ticket(actor, number)
    messages = (
        ticket.messages.select_related("outbox_item")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("received_at", "id")
    )
    items = [
        Item("ours" if m.direction == Message.Direction.OUT else "incoming", m.received_at, m)
        for m in messages
    ]
    for note in ticket.notes.select_related("author").order_by("created_at", "id"):
        kind = {
            InternalNote.Kind.DELIVERY_FAILURE: "failure",
            InternalNote.Kind.ACTIVITY: "activity",
        }.get(note.kind, "note")  # type: ignore[call-overload]
        items.append(Item(kind, note.created_at, note=note))
    items.sort(key=lambda i: (i.at, 0 if i.message else 1, i.anchor))
    return ticket, items


def quoted_rest(message: Message) -> str:
    """What the full text holds beyond the new part (the quoted history), or ""."""
    full, new = message.body_text.strip(), message.reply_text.strip()
    if not new or full == new:
        return ""
    return full
