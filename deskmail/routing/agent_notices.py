"""Mail to the agents about a ticket (a trigger's `notify_agents`), and their answers.

The notice goes to the ticket's assignee, or, while nobody has the ticket, to every
active member of its mailbox's team: those are the people who may see it. It is a
mailbox template, sent off the customer's thread. An agent who answers it by mail
writes to the mailbox; that answer names the notice's Message-ID (random, never shown
to the customer) and comes from the agent it went to, and so becomes an internal note
on the ticket instead of a message in the customer's thread or a new ticket.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import queue_agent_notice
from deskmail.tickets.models import InternalNote, Ticket


def recipients(ticket: Ticket) -> list[str]:
    """The assignee's address; nobody assigned, the mailbox team's (active people only)."""
    people = get_user_model().objects.filter(is_active=True).exclude(email="")
    if ticket.assignee_id is not None:
        people = people.filter(pk=ticket.assignee_id)
    else:
        people = people.filter(mailbox_memberships__mailbox_id=ticket.mailbox_id)
    addresses = people.order_by("email").values_list("email", flat=True).distinct()
    return list(dict.fromkeys(address.lower() for address in addresses))


def notify(ticket: Ticket, templates: Iterable[str]) -> list[OutboxItem]:
    """Queue each template to the agents of the saved ticket."""
    names = list(dict.fromkeys(templates))
    if not names:
        return []
    routing = ticket.mailbox.settings.routing
    addresses = recipients(ticket)
    queued: list[OutboxItem] = []
    for name in names:
        template = routing.template(name)
        assert template is not None  # the schema checks every name a rule uses
        subject = template.subject or None
        queued.extend(
            queue_agent_notice(ticket, address, body=template.body, subject=subject)
            for address in addresses
        )
    return queued


def answered_notice(message_ids: Iterable[str], sender: str) -> OutboxItem | None:
    """The notice these Message-IDs answer when it went to sender; None otherwise."""
    ids = [i for i in message_ids if i]
    if not ids or not sender:
        return None
    return (
        OutboxItem.objects.select_related("ticket", "ticket__mailbox")
        .filter(
            kind=OutboxItem.Kind.AGENT_NOTICE,
            outgoing__message_id__in=ids,
            recipient__iexact=sender,
            ticket__isnull=False,
        )
        .order_by("-id")
        .first()
    )


def record_answer(notice: OutboxItem, sender: str, text: str) -> InternalNote:
    """The agent's answer as an internal note on the notice's ticket, by that agent."""
    ticket = notice.ticket
    assert ticket is not None  # answered_notice finds only notices about a ticket
    author: User | None = (
        get_user_model().objects.filter(email__iexact=sender, is_active=True).first()
    )
    note = InternalNote.objects.create(
        ticket=ticket,
        kind=InternalNote.Kind.NOTE,
        author=author,
        body=text.strip() or "(an empty answer)",
    )
    emit(
        Event.Kind.NOTE_CREATED,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        note=note.pk,
        author=sender,
        mentions=[],
    )
    return note
