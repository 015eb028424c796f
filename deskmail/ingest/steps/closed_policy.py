"""A reply to a resolved/closed ticket reopens it, or opens a new ticket linked to it."""

from __future__ import annotations

import datetime as dt

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.tickets.models import Ticket

name = "closed_policy"


def _lock(ctx: Context) -> None:
    """Re-read the found ticket under a row lock, so concurrent appends do not lose updates.

    Within a batch the one in-memory instance already serialises the changes.
    """
    if ctx.ticket is not None and ctx.ticket.pk is not None and "batch" not in ctx.cache:
        ctx.ticket = Ticket.objects.select_for_update().get(pk=ctx.ticket.pk)


def run(ctx: Context) -> Decision:
    _lock(ctx)
    ticket = ctx.ticket
    if ticket is None or not ticket.is_closed:
        return Decision(name, "skip", "no closed ticket found")
    threading = ctx.settings.threading
    number = ticket.number
    if threading.reply_to_closed == "new_ticket":
        reason = "reply_to_closed is new_ticket"
    else:
        closed_at = ticket.status_changed_at or ticket.closed_at or ticket.resolved_at
        hours = threading.new_ticket_after_closed_hours
        if not hours or closed_at is None or ctx.now - closed_at < dt.timedelta(hours=hours):
            was = ticket.status
            ticket.set_status(Ticket.Status.OPEN, ctx.now)
            return Decision(name, "reopened", f"ticket #{number} was {was}; now open")
        reason = f"closed more than {hours:g} h ago"
    ctx.linked_from, ctx.ticket = ticket, None
    ctx.link_reason = f"reply to closed #{number}"
    return Decision(name, "new_ticket", f"ticket #{number} is {ticket.status}; {reason}")
