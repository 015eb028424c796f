"""Triggers on what people do to a ticket: a reply they send (`when: agent_replied`)
and a change they make (`when: updated`: status, priority, queue, type, assignee,
tags, custom fields, title).

The same rules as on arriving mail. For a reply, the mail they look at is the reply
(its sender is the mailbox, so a trigger's automatic answer is never sent to
ourselves); for a change, it is the ticket's title and its customer's latest
message, from the customer. What matched is written on the ticket as an activity
note, the console's history of the ticket, as the pipeline's trace is for arriving
mail. A trigger's own changes are saved here, not through the actions that started
it, so they start no other trigger: triggers cannot loop.
"""

from __future__ import annotations

import datetime as dt

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.recipients import own_addresses
from deskmail.routing import agent_notices
from deskmail.routing.engine import (
    Mail,
    Router,
    add_notes,
    apply_tags,
    offer,
    send_reply,
    tell_webhooks,
)
from deskmail.tickets.models import InternalNote, Message, Ticket

AGENT_REPLIED = "agent_replied"
UPDATED = "updated"
_SAVED = ["priority", "queue", "type", "status", "status_changed_at", "custom_fields", "assignee"]


def _wanted(ticket: Ticket, event: str) -> bool:
    return any(event in trigger.when for trigger in ticket.mailbox.settings.routing.triggers)


def _fresh(ticket: Ticket) -> Ticket:
    """The ticket as the change left it: nothing older is saved back."""
    return Ticket.objects.select_related("mailbox", "queue", "type", "contact").get(pk=ticket.pk)


def after_agent_reply(ticket: Ticket, item: OutboxItem, at: dt.datetime) -> list[str]:
    """Run the mailbox's `agent_replied` triggers on the queued reply; what matched, in words."""
    if not _wanted(ticket, AGENT_REPLIED):
        return []
    ticket = _fresh(ticket)
    sent = item.outgoing
    sender = (item.mailbox or ticket.mailbox).address.lower()
    mail = Mail(
        sender=sender,
        subject=sent.subject if sent is not None else ticket.title,
        body=sent.body_text if sent is not None else "",
    )
    return _run(ticket, mail, AGENT_REPLIED, at, frozenset({sender}))


def after_update(ticket: Ticket, at: dt.datetime) -> list[str]:
    """Run the mailbox's `updated` triggers after a person changed the ticket."""
    if not _wanted(ticket, UPDATED):
        return []
    ticket = _fresh(ticket)
    latest = (
        Message.objects.filter(ticket=ticket, direction=Message.Direction.IN)
        .order_by("-id")
        .values_list("body_text", flat=True)
        .first()
    )
    customer = ticket.contact.address if ticket.contact is not None else ""
    mail = Mail(sender=customer, subject=ticket.title, body=latest or "")
    return _run(ticket, mail, UPDATED, at, own_addresses())


def _run(ticket: Ticket, mail: Mail, event: str, at: dt.datetime, own: frozenset[str]) -> list[str]:
    router = Router(ticket.mailbox, ticket, mail, at=at, own=own)
    router.run_triggers(event)
    matched = [line.reason for line in router.lines if line.verdict == "matched"]
    if not matched:
        return []
    ticket.updated_at = at
    ticket.save(update_fields=[*_SAVED, "updated_at"])
    apply_tags(ticket, router.tags)
    add_notes(ticket, router.notes)
    for reply in router.replies:
        send_reply(ticket, reply)
    if router.offer is not None:
        offer(ticket, router.offer, "a trigger", at)
    agent_notices.notify(ticket, router.agent_notices)
    told = [line.reason for line in router.lines if line.verdict in {"skip", "queued"}]
    InternalNote.objects.create(
        ticket=ticket, kind=InternalNote.Kind.ACTIVITY, body="\n".join([*matched, *told])
    )
    emit(
        Event.Kind.TICKET_UPDATED,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        by="triggers",
        triggers=matched,
    )
    tell_webhooks(ticket, router.webhooks)
    return matched
