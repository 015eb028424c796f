"""Tickets an agent starts: a first mail to a customer, sent through the outbox.

The ticket, its first outgoing message, the outbox row and the `ticket.created`
event are written in one transaction; the worker sends the mail later, as it
does every reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.utils import timezone

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.compose import OutgoingAttachment
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.recipients import clean
from deskmail.services import access, actions, ticket_fields
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid
from deskmail.tickets.models import Contact, Counter, Ticket


def open_outbound(
    actor: Actor,
    *,
    mailbox: str,
    to: Iterable[str],
    subject: str,
    body_text: str | None = None,
    body_html: str | None = None,
    cc: Iterable[str] = (),
    status: str = Ticket.Status.OPEN,
    priority: str | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
) -> tuple[Ticket, OutboxItem]:
    """A new ticket in `mailbox` whose first message is our mail to `to`, sent from it."""
    box = access.mailbox(actor, mailbox)
    recipients = clean(to)
    if not recipients:
        raise Invalid(
            "a new ticket needs a recipient (our own addresses are never mailed)", field="to"
        )
    copies = clean(cc, exclude=recipients)
    title = " ".join(subject.split())
    if not title:
        raise Invalid("a new ticket needs a subject", field="subject")
    if status not in Ticket.Status.values:
        raise Invalid(f"no status {status!r}", field="status")
    now = timezone.now()
    with transaction.atomic():
        contact, _ = Contact.objects.get_or_create(address=recipients[0])
        ticket = Ticket.objects.create(
            number=Counter.next("ticket"),
            mailbox=box,
            title=title[:1000],
            status=status,
            contact=contact,
            participants=[*recipients, *copies],
            reply_to=recipients[0],
            reply_cc=copies,
            first_mail_at=now,
            status_changed_at=now,
        )
        if priority is not None:
            ticket_fields.set_priority(actor, ticket, priority)
        item = actions.reply(
            actor,
            ticket,
            body_text=body_text,
            body_html=body_html,
            to=recipients,
            cc=copies,
            attachments=attachments,
            mailbox=box.name,
        )
        emit(
            Event.Kind.TICKET_CREATED,
            mailbox_id=box.pk,
            ticket=ticket,
            message=item.outgoing_id,
            message_id=item.message_id,
            sender=box.address,
            subject=ticket.title,
            by=actor.name,
        )
    return access.ticket(actor, ticket.number), item
