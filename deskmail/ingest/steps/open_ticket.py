"""Open a new ticket (the next number) or append to the one found."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.mail.subjects import strip_prefixes
from deskmail.tickets.models import Ticket

name = "open_ticket"


def run(ctx: Context) -> Decision:
    ticket = ctx.ticket
    if ticket is not None:
        if ticket.status == Ticket.Status.PENDING:
            ticket.set_status(Ticket.Status.OPEN, ctx.now)
            return Decision(name, Verdict.APPENDED, f"to #{ticket.number}; pending -> open")
        return Decision(name, Verdict.APPENDED, f"to #{ticket.number} ({ticket.status})")
    ticket = Ticket(
        number=ctx.store.next_number(),
        mailbox=ctx.mailbox,
        title=strip_prefixes(ctx.parsed.subject).strip()[:1000],
        identity_key=ctx.identity_key,
        linked_from=ctx.linked_from,
        link_reason=ctx.link_reason,
        first_mail_at=ctx.mail_time,
        status_changed_at=ctx.now,
    )
    ctx.ticket, ctx.new_ticket = ticket, True
    link = f", linked to #{ctx.linked_from.number}" if ctx.linked_from else ""
    return Decision(name, Verdict.NEW, f"ticket #{ticket.number}{link}", {"number": ticket.number})
