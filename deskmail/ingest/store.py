"""What the pipeline steps read and write, behind one interface with two implementations.

A step asks the store ("which ticket holds one of these Message-IDs?", "the
next ticket number", "count this sender's recent mail") and never touches the
ORM itself, so each step has exactly one code path:

- `LiveStore` answers from the database and writes at once: one message, in
  its own transaction (live mail);
- `BatchStore` (`deskmail.ingest.batch`) answers from what a batch already
  knows, and collects small rows to write them with one statement per table
  (imports and first syncs);
- a test may pass an in-memory store of its own.

The store also owns the ticket instances it hands out: within a batch there is
one instance per ticket, so no step ever reads a stale copy.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from deskmail.events.log import emit
from deskmail.mailboxes.directory import Directory, directory
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import queue_auto_ack, queue_confirmation, queue_notice
from deskmail.routing import agent_notices
from deskmail.routing.engine import (
    Reply,
    add_notes,
    apply_tags,
    offer,
    send_reply,
    tell_webhooks,
)
from deskmail.tickets.models import (
    Attachment,
    Blob,
    Contact,
    Counter,
    Delivery,
    InternalNote,
    Message,
    MessageReference,
    Queue,
    Ticket,
    TicketType,
)

_LIVE = (OutboxItem.Status.PENDING, OutboxItem.Status.SENDING, OutboxItem.Status.SENT)


@dataclass(frozen=True)
class Sibling:
    """A stored message that names one of the same ancestors in its References."""

    ref: str
    message_id: str
    ticket: Ticket


class Store(ABC):
    """The reads and writes of the pipeline steps and of recording their outcome."""

    # -- our own mailboxes -----------------------------------------------------------

    @abstractmethod
    def directory(self) -> Directory:
        """Every mailbox's addresses and aliases."""

    # -- finding what is stored ----------------------------------------------------

    @abstractmethod
    def delivered_before(self, mailbox: Mailbox, source_key: str, sha256: str) -> Message | None:
        """The message stored from this very source position with these very bytes."""

    @abstractmethod
    def message_by_id(self, message_id: str) -> Message | None:
        """The stored message with this Message-ID (its ticket adopted), if any."""

    @abstractmethod
    def ticket_for_references(self, message_ids: list[str]) -> tuple[str, Ticket] | None:
        """The first of message_ids that belongs to a ticket, and that ticket."""

    @abstractmethod
    def ticket_sharing_ancestor(self, message_ids: list[str]) -> Sibling | None:
        """The newest stored message in a ticket naming one of message_ids as an ancestor."""

    @abstractmethod
    def ticket_by_number(self, number: int, mailbox: Mailbox | None = None) -> Ticket | None:
        """The ticket with this number (in mailbox, when given)."""

    @abstractmethod
    def ticket_by_identity(self, mailbox: Mailbox, key: str) -> Ticket | None:
        """The newest ticket of mailbox whose identity rule matched key."""

    @abstractmethod
    def ticket_by_subject(
        self,
        mailbox: Mailbox,
        subject_key: str,
        statuses: list[str],
        start: dt.datetime,
        end: dt.datetime,
    ) -> Ticket | None:
        """The newest ticket of mailbox in statuses titled subject_key, first mail in range."""

    @abstractmethod
    def lock(self, ticket: Ticket) -> Ticket:
        """The instance of ticket that may be changed: re-read under a row lock if need be."""

    @abstractmethod
    def sender_count(self, mailbox: Mailbox, sender: str, since: dt.datetime) -> int:
        """How many mails sender sent to mailbox since then (for the rate limit)."""

    @abstractmethod
    def contact(self, address: str) -> Contact | None:
        """The contact with this address, if there is one."""

    # -- creating --------------------------------------------------------------------

    @abstractmethod
    def create_contact(self, address: str, name: str) -> Contact: ...

    @abstractmethod
    def next_number(self) -> int:
        """The next ticket number of the global sequence."""

    @abstractmethod
    def queue(self, name: str) -> Queue: ...

    @abstractmethod
    def ticket_type(self, name: str) -> TicketType: ...

    # -- writing the outcome ---------------------------------------------------------

    @abstractmethod
    def save_ticket(self, ticket: Ticket, now: dt.datetime) -> None:
        """Insert a new ticket, or write what a message changed on an existing one."""

    @abstractmethod
    def add_message(self, message: Message, references: list[str]) -> None:
        """Insert a message and its threading references."""

    @abstractmethod
    def add_delivery(self, delivery: Delivery) -> None: ...

    @abstractmethod
    def add_attachment(self, attachment: Attachment) -> None: ...

    @abstractmethod
    def add_note(self, note: InternalNote) -> None: ...

    @abstractmethod
    def save_trace(self, message: Message) -> None:
        """Write a stored message's trace again (another delivery was recorded on it)."""

    @abstractmethod
    def queue_auto_ack(self, ticket: Ticket) -> None:
        """Queue the acknowledgement of a new ticket through the outbox."""

    @abstractmethod
    def emit(self, kind: str, message: Message) -> None:
        """Record in the event log that a message arrived (or opened a ticket)."""

    def add_tags(self, ticket: Ticket, names: list[str]) -> None:
        """Tag a saved ticket (the triggers' tags)."""
        apply_tags(ticket, names)

    def add_trigger_notes(self, ticket: Ticket, notes: list[str]) -> None:
        """The triggers' internal notes on a saved ticket."""
        add_notes(ticket, notes)

    def tell_webhooks(self, ticket: Ticket, matched: list[tuple[str, str]]) -> None:
        """The triggers' `trigger.matched` events, after the ticket's own."""
        tell_webhooks(ticket, matched)

    def notify_agents(self, ticket: Ticket, templates: list[str]) -> None:
        """Mail the triggers' templates to the agents of the saved ticket."""
        agent_notices.notify(ticket, templates)

    def answered_notice(self, message_ids: list[str], sender: str) -> OutboxItem | None:
        """The notice to the agents that these Message-IDs answer, when it went to sender."""
        return agent_notices.answered_notice(message_ids, sender)

    def queue_auto_reply(self, ticket: Ticket, reply: Reply) -> None:
        """Queue an automatic answer of the routing rules through the outbox."""
        send_reply(ticket, reply)

    def queue_notice(self, mailbox: Mailbox, answered: Message, reply: Reply) -> None:
        """Queue the answer (a routing template) to mail that opened no ticket."""
        template = mailbox.settings.routing.template(reply.template)
        assert template is not None  # the schema checks the name
        queue_notice(mailbox, answered, body=template.body, subject=template.subject or None)

    def sender_known(self, mailbox: Mailbox, sender: str) -> bool:
        """Whether sender has a ticket in mailbox already (one that is not waiting)."""
        return (
            Ticket.objects.filter(mailbox=mailbox, confirmation="")
            .filter(Q(reply_to=sender) | Q(contact__address=sender))
            .exists()
        )

    def confirmations_sent(self, recipient: str, since: dt.datetime) -> int:
        """Confirmation mails queued for recipient since then (skipped ones not counted)."""
        return OutboxItem.objects.filter(
            kind=OutboxItem.Kind.CONFIRMATION,
            recipient=recipient,
            created_at__gte=since,
            status__in=_LIVE,
        ).count()

    def confirmation_ids(self, ticket: Ticket) -> set[str]:
        """The Message-IDs of the confirmation mails of a waiting ticket."""
        rows = OutboxItem.objects.filter(ticket=ticket, kind=OutboxItem.Kind.CONFIRMATION)
        return {str(m) for m in rows.values_list("message_id", flat=True) if m}

    def queue_confirmation(
        self, ticket: Ticket, recipient: str, link: str | None, hours: float
    ) -> None:
        """Queue the mail that asks the sender of a waiting ticket to confirm."""
        queue_confirmation(ticket, recipient, link=link, hours=hours)

    def offer(self, ticket: Ticket, user: User, reason: str, now: dt.datetime) -> None:
        """The ticket distribution gave to user waits for them to accept it."""
        offer(ticket, user, reason, now)

    def blob(self, sha256: str, size: int) -> Blob:
        """The row for attachment bytes already written to storage."""
        return Blob.objects.get_or_create(sha256=sha256, defaults={"size": size})[0]


class LiveStore(Store):
    """The database itself: every answer a query, every write at once."""

    def __init__(self) -> None:
        self._directory: Directory | None = None
        self._queues: dict[str, Queue] = {}
        self._types: dict[str, TicketType] = {}

    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = directory()
        return self._directory

    def delivered_before(self, mailbox: Mailbox, source_key: str, sha256: str) -> Message | None:
        found = (
            Delivery.objects.filter(mailbox=mailbox, source_key=source_key, raw_sha256=sha256)
            .select_related("message__ticket")
            .order_by()[:1]
        )
        delivery = next(iter(found), None)
        return delivery.message if delivery is not None else None

    def message_by_id(self, message_id: str) -> Message | None:
        found = Message.objects.filter(message_id=message_id).select_related("ticket").order_by()
        return next(iter(found[:1]), None)

    def _messages_in_tickets(self, message_ids: list[str]) -> dict[str, Ticket]:
        rows: QuerySet[Message] = (
            Message.objects.filter(message_id__in=message_ids, ticket__isnull=False)
            .select_related("ticket")
            .only("message_id", "ticket")
            .order_by()
        )
        return {m.message_id: m.ticket for m in rows if m.ticket is not None}

    def ticket_for_references(self, message_ids: list[str]) -> tuple[str, Ticket] | None:
        found = self._messages_in_tickets(message_ids)
        for ref in message_ids:
            if ref in found:
                return ref, found[ref]
        return None

    def ticket_sharing_ancestor(self, message_ids: list[str]) -> Sibling | None:
        row = (
            MessageReference.objects.filter(ref__in=message_ids, message__ticket__isnull=False)
            .select_related("message__ticket")
            .order_by("-message__received_at", "-message_id")
            .first()
        )
        if row is None or row.message.ticket is None:
            return None
        return Sibling(row.ref, row.message.message_id, row.message.ticket)

    def ticket_by_number(self, number: int, mailbox: Mailbox | None = None) -> Ticket | None:
        query = Ticket.objects.filter(number=number).select_related("contact")
        if mailbox is not None:
            query = query.filter(mailbox=mailbox)
        return _surviving(query.first())

    def ticket_by_identity(self, mailbox: Mailbox, key: str) -> Ticket | None:
        found = Ticket.objects.filter(mailbox=mailbox, identity_key=key).order_by("-number")
        return _surviving(found.first())

    def ticket_by_subject(
        self,
        mailbox: Mailbox,
        subject_key: str,
        statuses: list[str],
        start: dt.datetime,
        end: dt.datetime,
    ) -> Ticket | None:
        return (
            Ticket.objects.filter(
                mailbox=mailbox,
                subject_key=subject_key,
                status__in=statuses,
                first_mail_at__gte=start,
                first_mail_at__lte=end,
            )
            .order_by("-first_mail_at", "-number")
            .first()
        )

    def lock(self, ticket: Ticket) -> Ticket:
        if ticket.pk is None:
            return ticket
        query = Ticket.objects.select_for_update(of=("self",)).select_related("contact")
        return query.get(pk=ticket.pk)

    def sender_count(self, mailbox: Mailbox, sender: str, since: dt.datetime) -> int:
        return Message.objects.filter(
            mailbox=mailbox,
            direction=Message.Direction.IN,
            from_address=sender,
            received_at__gte=since,
        ).count()

    def contact(self, address: str) -> Contact | None:
        return next(iter(Contact.objects.filter(address=address).order_by()[:1]), None)

    def create_contact(self, address: str, name: str) -> Contact:
        return Contact.objects.create(address=address, name=name[:300])

    def next_number(self) -> int:
        return Counter.next("ticket")

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue.objects.get_or_create(name=name)[0]
        return self._queues[name]

    def ticket_type(self, name: str) -> TicketType:
        if name not in self._types:
            self._types[name] = TicketType.objects.get_or_create(name=name)[0]
        return self._types[name]

    def save_ticket(self, ticket: Ticket, now: dt.datetime) -> None:
        ticket.save()

    def add_message(self, message: Message, references: list[str]) -> None:
        message.save(force_insert=True)
        if references:
            MessageReference.objects.bulk_create(
                [MessageReference(message=message, ref=ref) for ref in references]
            )

    def add_delivery(self, delivery: Delivery) -> None:
        delivery.save()

    def add_attachment(self, attachment: Attachment) -> None:
        attachment.save()

    def add_note(self, note: InternalNote) -> None:
        note.save()

    def save_trace(self, message: Message) -> None:
        message.save(update_fields=["trace"])

    def queue_auto_ack(self, ticket: Ticket) -> None:
        queue_auto_ack(ticket)

    def emit(self, kind: str, message: Message) -> None:
        ticket = message.ticket
        emit(
            kind,
            mailbox_id=message.mailbox_id,
            ticket=ticket,
            message=message.pk,
            message_id=message.message_id,
            sender=message.from_address,
            subject=message.subject,
        )


# Merges can chain (A into B, later B into C); more hops than this is a cycle or damage.
_MAX_MERGE_HOPS = 20


def _surviving(ticket: Ticket | None) -> Ticket | None:
    """The ticket a merge put this one's thread into (itself when it was never merged).

    A reply that names a merged ticket only by its number or identity belongs where
    its messages went; replies naming a Message-ID find it there already.
    """
    hops = 0
    while ticket is not None and ticket.merged_into_id is not None and hops < _MAX_MERGE_HOPS:
        ticket = Ticket.objects.select_related("contact").get(pk=ticket.merged_into_id)
        hops += 1
    return ticket
