"""The store of a batch (`ingest_many`): look things up once, write small rows once.

Before a batch runs, a few queries find which of its Message-IDs, source
positions, referenced Message-IDs and senders are already stored (read from the
raw headers); the steps' questions are then answered from that knowledge where
it suffices. New tickets and contacts, messages, their deliveries, reference
rows, attachments and notes, and changes to existing tickets are collected and
written with one statement per table: at the end of the batch, or before a
question that only the database can answer. New tickets and contacts get their
keys when they are made (`reserve_keys`), since other rows name them at once;
they are inserted before any statement of the batch's transaction that names
their table (`pending_rows_first`), so no query, whoever sends it, misses them.

Within a batch each ticket has one in-memory instance, so its pending changes
are never read stale; a ticket the batch did not create is read under a row
lock the first time, so a live worker cannot change it while the batch holds a
copy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from email.utils import parseaddr
from typing import Any

from django.db import connection, models
from django.db.models.signals import post_save

from deskmail.core.bulk import insert_rows, reserve_keys, update_rows
from deskmail.ingest.store import LiveStore, Sibling
from deskmail.mail.identity import synthetic_message_id
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.routing.engine import Reply
from deskmail.tickets.models import (
    Attachment,
    Blob,
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
    # What a trigger may change when a customer writes again.
    "priority",
    "queue",
    "assignee",
    "type",
    "custom_fields",
]
# Keys of new tickets (and of new contacts) taken at a time.
KEYS_AHEAD = 64
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^>\s]+)>?", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(rb"\r?\n[ \t]+")
_THREAD_HEADER = re.compile(rb"^(?:in-reply-to|references):(.*)$", re.IGNORECASE | re.MULTILINE)
_ANGLE_ID = re.compile(rb"<([^<>\s]+)>")
_FROM = re.compile(rb"^from:(.*)$", re.IGNORECASE | re.MULTILINE)


def stored_positions(
    mailbox: Mailbox, positions: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Of (source key, sha256), those stored for mailbox already, each with its message's pk."""
    wanted = set(positions)
    found = Delivery.objects.filter(
        mailbox=mailbox, source_key__in={key for key, _ in wanted}
    ).values_list("source_key", "raw_sha256", "message_id")
    return {(key, digest): pk for key, digest, pk in found if (key, digest) in wanted}


def _head(raw: bytes) -> bytes:
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


class BatchStore(LiveStore):
    """Answers from what the batch knows; writes collected rows in `flush()`."""

    def __init__(self) -> None:
        super().__init__()
        self.absent_ids: set[str] = set()
        self.absent_positions: set[tuple[str, str]] = set()  # (source key, sha256)
        # Positions stored before the batch began, with their message's pk (loaded on demand).
        self.stored_positions: dict[tuple[str, str], int] = {}
        self.redelivered: dict[int, Message] | None = None
        self.deliveries: list[Delivery] = []
        self.references: list[MessageReference] = []
        # Messages of this batch not inserted yet, and the rows that point at them.
        self.messages: dict[str, Message] = {}
        self.attachments: list[Attachment] = []
        # The rows of the attachment bytes they name, by SHA-256 (a pk once flushed).
        self.blobs: dict[str, Blob] = {}
        self.notes: list[InternalNote] = []
        # One instance per ticket touched by the batch; changed ones are updated together.
        self.tickets: dict[int, Ticket] = {}
        self.dirty: dict[int, Ticket] = {}
        # Message-IDs the batch has looked up for threading, and the ticket of each one found.
        self.checked_refs: set[str] = set()
        self.ref_tickets: dict[str, int] = {}
        # Of the Message-IDs the batch's mail referenced when it began, those naming one
        # of our notices to the agents; None once the batch queued notices of its own.
        self.referenced: set[str] = set()
        self.notice_ids: set[str] | None = set()
        # Contacts of the batch's senders (None: known not to exist when the batch began).
        self.contacts: dict[str, Contact | None] = {}
        # Contacts and tickets the batch created, keyed already and not inserted yet.
        self.new_contacts: list[Contact] = []
        self.new_tickets: dict[int, Ticket] = {}
        self.keys: dict[type[models.Model], list[int]] = {}
        # The last ticket number taken; the counter row stays locked until the commit.
        self.number: int | None = None
        self.number_taken = False

    # -- what the batch knows before it runs -------------------------------------------

    @classmethod
    def prepare(cls, mailbox: Mailbox, items: Iterable[tuple[bytes, str, str]]) -> BatchStore:
        """Look up, once, which of (raw, sha256, source key) are already stored."""
        store = cls()
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
                refs.update(
                    r.decode("ascii", "replace") for r in _ANGLE_ID.findall(header.group(1))
                )
        known = set(Message.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
        store.ref_tickets = {
            message_id: ticket_id
            for message_id, ticket_id in Message.objects.filter(
                message_id__in=refs, ticket__isnull=False
            ).values_list("message_id", "ticket_id")
            if ticket_id is not None
        }
        positions = {(key, digest) for _, digest, key in items if key}
        store.stored_positions = stored_positions(mailbox, positions)
        store.notice_ids = set(
            OutboxItem.objects.filter(
                kind=OutboxItem.Kind.AGENT_NOTICE, outgoing__message_id__in=refs
            ).values_list("outgoing__message_id", flat=True)
        )
        store.contacts = dict.fromkeys(senders)
        store.contacts.update((c.address, c) for c in Contact.objects.filter(address__in=senders))
        store.absent_ids = ids - known
        store.absent_positions = positions - store.stored_positions.keys()
        store.checked_refs = set(refs)
        store.referenced = refs
        return store

    # -- one instance per ticket -----------------------------------------------------

    def ticket(self, pk: int) -> Ticket:
        """The batch's instance of a ticket, read under a row lock the first time."""
        if pk not in self.tickets:
            query = Ticket.objects.select_for_update(of=("self",)).select_related("contact")
            self.tickets[pk] = query.get(pk=pk)
        return self.tickets[pk]

    def _adopt(self, ticket: Ticket | None) -> Ticket | None:
        return None if ticket is None else self.ticket(ticket.pk)

    def lock(self, ticket: Ticket) -> Ticket:
        return ticket if ticket.pk is None else self.ticket(ticket.pk)

    # -- answers ----------------------------------------------------------------------

    def delivered_before(self, mailbox: Mailbox, source_key: str, sha256: str) -> Message | None:
        if (source_key, sha256) in self.absent_positions:
            return None
        pk = self.stored_positions.get((source_key, sha256))
        redelivered = self._redelivered(pk) if pk is not None else None
        if redelivered is not None:
            return redelivered
        self.flush()
        message = super().delivered_before(mailbox, source_key, sha256)
        if message is not None:
            message.ticket = self._adopt(message.ticket)
        return message

    def _redelivered(self, pk: int) -> Message | None:
        """A message stored before the batch, fetched again; all such are read at once.

        Nothing is written for it, so its ticket is not locked (a resumed import
        offers hundreds of these per batch).
        """
        if self.redelivered is None:
            pks = set(self.stored_positions.values())
            query = Message.objects.filter(pk__in=pks).select_related("ticket")
            self.redelivered = {message.pk: message for message in query}
        message = self.redelivered.get(pk)  # None: deleted since the batch began
        if (
            message is not None
            and message.ticket_id is not None
            and message.ticket_id in self.tickets
        ):
            message.ticket = self.tickets[message.ticket_id]
        return message

    def message_by_id(self, message_id: str) -> Message | None:
        if message_id in self.absent_ids:
            return None
        pending = self.messages.get(message_id)
        message = pending if pending is not None else super().message_by_id(message_id)
        if message is not None and pending is None:
            message.ticket = self._adopt(message.ticket)
        return message

    def ticket_for_references(self, message_ids: list[str]) -> tuple[str, Ticket] | None:
        unchecked = [ref for ref in message_ids if ref not in self.checked_refs]
        stored = self._messages_in_tickets(unchecked) if unchecked else {}
        for ref in message_ids:
            pk = self.ref_tickets.get(ref)
            if pk is not None:
                return ref, self.ticket(pk)
            if ref in stored:
                return ref, self.ticket(stored[ref].pk)
        return None

    def ticket_sharing_ancestor(self, message_ids: list[str]) -> Sibling | None:
        self.flush()
        found = super().ticket_sharing_ancestor(message_ids)
        if found is None:
            return None
        return Sibling(found.ref, found.message_id, self.ticket(found.ticket.pk))

    def ticket_by_number(self, number: int, mailbox: Mailbox | None = None) -> Ticket | None:
        return self._adopt(super().ticket_by_number(number, mailbox))

    def ticket_by_identity(self, mailbox: Mailbox, key: str) -> Ticket | None:
        return self._adopt(super().ticket_by_identity(mailbox, key))

    def ticket_by_subject(
        self,
        mailbox: Mailbox,
        subject_key: str,
        statuses: list[str],
        start: dt.datetime,
        end: dt.datetime,
    ) -> Ticket | None:
        self.flush()  # statuses changed earlier in the batch must be visible
        return self._adopt(super().ticket_by_subject(mailbox, subject_key, statuses, start, end))

    def sender_count(self, mailbox: Mailbox, sender: str, since: dt.datetime) -> int:
        self.flush()
        return super().sender_count(mailbox, sender, since)

    def answered_notice(self, message_ids: list[str], sender: str) -> OutboxItem | None:
        """No query when the lookup before the batch covered every ID and found no notice."""
        notices = self.notice_ids
        if notices is not None and self.referenced.issuperset(message_ids):
            if notices.isdisjoint(message_ids):
                return None
        return super().answered_notice(message_ids, sender)

    def contact(self, address: str) -> Contact | None:
        if address in self.contacts:
            return self.contacts[address]
        return super().contact(address)

    def create_contact(self, address: str, name: str) -> Contact:
        # Its key now, its row with the batch's: a ticket may name it meanwhile,
        # since foreign keys are checked at the commit.
        contact = Contact(pk=self._key(Contact), address=address, name=name[:300])
        self.new_contacts.append(contact)
        self.contacts[address] = contact
        return contact

    def _key(self, model: type[models.Model]) -> int:
        if not self.keys.get(model):
            self.keys[model] = reserve_keys(model, KEYS_AHEAD)
        return self.keys[model].pop(0)

    def sender_known(self, mailbox: Mailbox, sender: str) -> bool:
        self.flush()  # the batch's new tickets and their contacts count
        return super().sender_known(mailbox, sender)

    def next_number(self) -> int:
        """One UPDATE for the batch's first number, then counted here.

        The first UPDATE locks the counter row until this transaction ends, so
        no one else can take a number meanwhile; `flush` writes the last one.
        """
        if self.number is None:
            self.number = Counter.next("ticket")
        else:
            self.number += 1
            self.number_taken = True
        return self.number

    # -- writes, collected ----------------------------------------------------------

    def save_ticket(self, ticket: Ticket, now: dt.datetime) -> None:
        if ticket.pk is None:
            ticket.pk = self._key(Ticket)
            self.new_tickets[ticket.pk] = ticket
            self.tickets[ticket.pk] = ticket
        elif ticket.pk not in self.new_tickets:  # a new one is inserted as it is then
            ticket.updated_at = now
            self.tickets.setdefault(ticket.pk, ticket)
            self.dirty[ticket.pk] = ticket

    def add_message(self, message: Message, references: list[str]) -> None:
        self.messages[message.message_id] = message
        self.references.extend(MessageReference(message=message, ref=ref) for ref in references)
        # Later replies in this batch find it here.
        self.checked_refs.add(message.message_id)
        if message.ticket is not None:
            self.ref_tickets[message.message_id] = message.ticket.pk
            self.tickets.setdefault(message.ticket.pk, message.ticket)

    def add_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.absent_ids.discard(delivery.message.message_id)
        self.absent_positions.discard((delivery.source_key, delivery.raw_sha256))

    def add_attachment(self, attachment: Attachment) -> None:
        self.attachments.append(attachment)

    def blob(self, sha256: str, size: int) -> Blob:
        """The batch's row for these bytes; every new one is inserted at the flush."""
        if sha256 not in self.blobs:
            self.blobs[sha256] = Blob(sha256=sha256, size=size)
        return self.blobs[sha256]

    def add_note(self, note: InternalNote) -> None:
        self.notes.append(note)

    def save_trace(self, message: Message) -> None:
        if message.pk is not None:  # a message of this batch is inserted with its trace
            super().save_trace(message)

    def queue_auto_ack(self, ticket: Ticket) -> None:
        self.flush()  # the acknowledgement reads the ticket's first message
        super().queue_auto_ack(ticket)

    def notify_agents(self, ticket: Ticket, templates: list[str]) -> None:
        super().notify_agents(ticket, templates)
        self.notice_ids = None  # answers to these are looked up in the database

    def queue_auto_reply(self, ticket: Ticket, reply: Reply) -> None:
        self.flush()  # the answer threads under the ticket's latest message
        super().queue_auto_reply(ticket, reply)

    def emit(self, kind: str, message: Message) -> None:
        self.flush()  # the event names the message's id
        super().emit(kind, message)

    def flush(self) -> None:
        """Insert the collected rows; runs before a question only the database answers."""
        self._insert_new()
        fresh = [m for m in self.messages.values() if m.pk is None]
        if fresh:
            insert_rows(fresh)
        self.messages.clear()
        if self.attachments:
            self._insert_blobs()
            insert_rows(self.attachments)
            self.attachments.clear()
        if self.notes:
            insert_rows(self.notes)
            self.notes.clear()
        if self.deliveries:
            insert_rows(self.deliveries)
            self.deliveries.clear()
        if self.references:
            insert_rows(self.references)
            self.references.clear()
        if self.dirty:
            update_rows(list(self.dirty.values()), TICKET_FIELDS)
            self.dirty.clear()
        if self.number_taken:
            Counter.objects.filter(name="ticket").update(value=self.number)
            self.number_taken = False

    @contextmanager
    def pending_rows_first(self) -> Iterator[None]:
        """Within this, the new contacts and tickets are inserted before any statement
        that names their tables runs: a routing rule counting an agent's tickets, a
        lookup by number, anything the steps ask."""
        with connection.execute_wrapper(self._before_statement):
            yield

    def _before_statement(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        # Unquoted, so that the tickets' tag and link tables count too.
        if (self.new_tickets and "tickets_ticket" in sql) or (
            self.new_contacts and "tickets_contact" in sql
        ):
            self._insert_new()
        return execute(sql, params, many, context)

    def _insert_new(self) -> None:
        """Insert the new contacts, then the new tickets that may name them."""
        contacts, self.new_contacts = self.new_contacts, []
        tickets, self.new_tickets = list(self.new_tickets.values()), {}
        insert_rows(contacts)
        for ticket in tickets:
            ticket.refresh_subject_key()
        insert_rows(tickets)
        for ticket in tickets:  # as `save()` would: the suggestion index listens
            post_save.send(
                Ticket,
                instance=ticket,
                created=True,
                update_fields=None,
                raw=False,
                using=connection.alias,
            )

    def _insert_blobs(self) -> None:
        """Give each new blob its row: inserted unless it exists, then every pk read back."""
        new = {sha: blob for sha, blob in self.blobs.items() if blob.pk is None}
        if not new:
            return
        # Another process may insert the same bytes meanwhile: the conflict is ignored.
        Blob.objects.bulk_create(new.values(), ignore_conflicts=True)
        stored = Blob.objects.filter(sha256__in=new).values_list("sha256", "pk")
        for sha, pk in stored:
            new[sha].pk = pk
