"""A reply to a resolved/closed ticket reopens it, or opens a new ticket linked to it."""

from __future__ import annotations

import datetime as dt

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.tickets.models import Ticket

name = "closed_policy"


def run(ctx: Context) -> Decision:
    # From here on the found ticket may change: take the instance that may be written.
    ticket = ctx.ticket = ctx.store.lock(ctx.ticket) if ctx.ticket is not None else None
    if ticket is None or not ticket.is_closed:
        return Decision(name, Verdict.SKIP, "no closed ticket found")
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
            return Decision(name, Verdict.REOPENED, f"ticket #{number} was {was}; now open")
        reason = f"closed more than {hours:g} h ago"
    ctx.linked_from, ctx.ticket = ticket, None
    ctx.link_reason = f"reply to closed #{number}"
    return Decision(name, Verdict.NEW_TICKET, f"ticket #{number} is {ticket.status}; {reason}")
