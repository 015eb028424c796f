"""Triggers on a reply an agent sends (`when: agent_replied`), run when it is queued.

The same rules as on arriving mail, seeing the reply as the mail (its sender is the
mailbox, so a trigger's automatic answer is never sent to ourselves). What matched
is written on the ticket as an activity note, the console's history of the ticket,
as the pipeline's trace is for arriving mail; a trigger's changes start no other.
"""

from __future__ import annotations

import datetime as dt

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.models import OutboxItem
from deskmail.routing.engine import Mail, Router, add_notes, apply_tags, offer
from deskmail.tickets.models import InternalNote, Ticket

EVENT = "agent_replied"
_SAVED = ["priority", "queue", "type", "status", "status_changed_at", "custom_fields", "assignee"]


def after_agent_reply(ticket: Ticket, item: OutboxItem, at: dt.datetime) -> list[str]:
    """Run the mailbox's `agent_replied` triggers on the queued reply; what matched, in words."""
    config = ticket.mailbox.settings.routing
    if not any(EVENT in trigger.when for trigger in config.triggers):
        return []
    # As queueing the reply left it (a status the agent chose): nothing older is saved back.
    ticket = Ticket.objects.select_related("mailbox", "queue", "type").get(pk=ticket.pk)
    sent = item.outgoing
    sender = (item.mailbox or ticket.mailbox).address.lower()
    mail = Mail(
        sender=sender,
        subject=sent.subject if sent is not None else ticket.title,
        body=sent.body_text if sent is not None else "",
    )
    router = Router(ticket.mailbox, ticket, mail, at=at, own=frozenset({sender}))
    router.run_triggers(EVENT)
    matched = [line.reason for line in router.lines if line.verdict == "matched"]
    if not matched:
        return []
    ticket.updated_at = at
    ticket.save(update_fields=[*_SAVED, "updated_at"])
    apply_tags(ticket, router.tags)
    add_notes(ticket, router.notes)
    if router.offer is not None:
        offer(ticket, router.offer, "a trigger", at)
    skipped = [line.reason for line in router.lines if line.verdict == "skip"]
    InternalNote.objects.create(
        ticket=ticket, kind=InternalNote.Kind.ACTIVITY, body="\n".join([*matched, *skipped])
    )
    emit(
        Event.Kind.TICKET_UPDATED,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        by="triggers",
        triggers=matched,
    )
    return matched
