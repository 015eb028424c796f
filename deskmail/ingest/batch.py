"""Batch mode for `ingest_many`: look things up once per batch, write small rows once.

Before a batch runs, a few queries find which of its Message-IDs, source
positions and referenced Message-IDs are already stored (read from the raw
headers); the dedupe and threading steps then skip their own queries where
the batch already knows the answer. Messages, their deliveries, reference
rows, attachments and notes, and changes to existing tickets are collected
and written with one statement per table, flushed at the end of the batch or
before a step reads those tables. Within a batch each ticket has one in-memory
instance (`Context.adopt`), so its pending changes are never read stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr

from deskmail.ingest.steps.parse import synthetic_message_id
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.models import (
    Attachment,
    Contact,
    Counter,
    Delivery,
    InternalNote,
    Message,
    MessageReference,
    Ticket,
)

# What appending a message can change on an existing ticket.
TICKET_FIELDS = [
    "status",
    "status_changed_at",
    "participants",
    "reply_cc",
    "reply_references",
    "updated_at",
]
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^>\s]+)>?", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(rb"\r?\n[ \t]+")
_THREAD_HEADER = re.compile(rb"^(?:in-reply-to|references):(.*)$", re.IGNORECASE | re.MULTILINE)
_ANGLE_ID = re.compile(rb"<([^<>\s]+)>")
_FROM = re.compile(rb"^from:(.*)$", re.IGNORECASE | re.MULTILINE)


def _head(raw: bytes) -> bytes:
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


@dataclass
class Batch:
    absent_ids: set[str] = field(default_factory=set)
    absent_positions: set[tuple[str, str]] = field(default_factory=set)  # (source key, sha256)
    deliveries: list[Delivery] = field(default_factory=list)
    references: list[MessageReference] = field(default_factory=list)
    # Messages of this batch not inserted yet, and the rows that point at them.
    messages: dict[str, Message] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[InternalNote] = field(default_factory=list)
    # One instance per ticket touched by the batch; changed ones are updated together.
    tickets: dict[int, Ticket] = field(default_factory=dict)
    dirty: dict[int, Ticket] = field(default_factory=dict)
    # Message-IDs the batch has looked up for threading, and the ticket of each one found.
    checked_refs: set[str] = field(default_factory=set)
    ref_tickets: dict[str, int] = field(default_factory=dict)
    # Contacts of the batch's senders (None: known not to exist when the batch began).
    contacts: dict[str, Contact | None] = field(default_factory=dict)
    # The last ticket number taken; the counter row stays locked until the commit.
    number: int | None = None
    number_taken: bool = False

    def next_number(self) -> int:
        """The next ticket number: one UPDATE for the batch's first, then counted here.

        The first UPDATE locks the counter row until this transaction ends, so
        no one else can take a number meanwhile; `flush` writes the last one.
        """
        if self.number is None:
            self.number = Counter.next("ticket")
        else:
            self.number += 1
            self.number_taken = True
        return self.number

    def add_message(self, message: Message) -> None:
        self.messages[message.message_id] = message

    def pending(self, message_id: str) -> Message | None:
        """A message of this batch with this Message-ID that is not inserted yet."""
        message = self.messages.get(message_id)
        return message if message is not None and message.pk is None else None

    def flush(self) -> None:
        """Insert the collected rows; call before reading messages, deliveries or references."""
        fresh = [m for m in self.messages.values() if m.pk is None]
        if fresh:
            Message.objects.bulk_create(fresh)
        self.messages.clear()
        if self.attachments:
            Attachment.objects.bulk_create(self.attachments)
            self.attachments.clear()
        if self.notes:
            InternalNote.objects.bulk_create(self.notes)
            self.notes.clear()
        if self.deliveries:
            Delivery.objects.bulk_create(self.deliveries)
            self.deliveries.clear()
        if self.references:
            MessageReference.objects.bulk_create(self.references)
            self.references.clear()
        if self.dirty:
            Ticket.objects.bulk_update(list(self.dirty.values()), TICKET_FIELDS)
            self.dirty.clear()
        if self.number_taken:
            Counter.objects.filter(name="ticket").update(value=self.number)
            self.number_taken = False

    def stored(self, message_id: str, position: tuple[str, str]) -> None:
        """A message of this batch is stored: it is no longer absent."""
        self.absent_ids.discard(message_id)
        self.absent_positions.discard(position)

    def threaded(self, message_id: str, ticket: Ticket | None) -> None:
        """A message of this batch is stored in a ticket: later replies find it here."""
        self.checked_refs.add(message_id)
        if ticket is not None:
            self.ref_tickets[message_id] = ticket.pk
            self.tickets.setdefault(ticket.pk, ticket)

    def ticket(self, pk: int) -> Ticket:
        """The batch's instance of a ticket, read under a row lock the first time."""
        if pk not in self.tickets:
            query = Ticket.objects.select_for_update(of=("self",)).select_related("contact")
            self.tickets[pk] = query.get(pk=pk)
        return self.tickets[pk]

    def ticket_for(self, refs: list[str]) -> tuple[str, Ticket] | None | bool:
        """The first ref with a ticket; None when none has one; False when the batch cannot tell."""
        if not all(ref in self.checked_refs for ref in refs):
            return False
        for ref in refs:
            pk = self.ref_tickets.get(ref)
            if pk is not None:
                return ref, self.ticket(pk)
        return None


def prepare(mailbox: Mailbox, items: Iterable[tuple[bytes, str, str]]) -> Batch:
    """Look up, once, which of (raw, sha256, source key) are already stored."""
    items = list(items)
    ids: set[str] = set()
    refs: set[str] = set()
    senders: set[str] = set()
    for raw, digest, _ in items:
        ids.add(synthetic_message_id(digest))
        head = _FOLD.sub(b" ", _head(raw))
        match = _MESSAGE_ID.search(head)
        if match:
            ids.add(match.group(1).decode("ascii", "replace"))
        sender = _FROM.search(head)
        if sender:
            address = parseaddr(sender.group(1).decode("utf-8", "replace"))[1].lower()
            if address:
                senders.add(address)
        for header in _THREAD_HEADER.finditer(head):
            refs.update(r.decode("ascii", "replace") for r in _ANGLE_ID.findall(header.group(1)))
    known = set(Message.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
    ref_tickets = dict(
        Message.objects.filter(message_id__in=refs, ticket__isnull=False).values_list(
            "message_id", "ticket_id"
        )
    )
    positions = {(key, digest) for _, digest, key in items if key}
    seen = set(
        Delivery.objects.filter(
            mailbox=mailbox, source_key__in={key for key, _ in positions}
        ).values_list("source_key", "raw_sha256")
    )
    contacts: dict[str, Contact | None] = dict.fromkeys(senders)
    contacts.update((c.address, c) for c in Contact.objects.filter(address__in=senders))
    return Batch(
        contacts=contacts,
        absent_ids=ids - known,
        absent_positions=positions - seen,
        checked_refs=refs,
        ref_tickets=ref_tickets,
    )
