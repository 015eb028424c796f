"""A mailbox that takes no new tickets keeps mail that belongs to none, marked, and may say so.

Replies to existing tickets have found their ticket by now and pass. The mail
is stored like any excluded mail (raw bytes, a message on no ticket), so an
admin finds it among the kept mail; its sender may get the mailbox's
`tickets.no_new_tickets_reply` template, with the routing rules' guards.
"""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.steps.route import automatic
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict
from deskmail.routing.engine import Mail, Reply, answer_refusal

name = "new_tickets"
REASON = "no new tickets from this mailbox"


def run(ctx: Context) -> Decision:
    config = ctx.settings.tickets
    if ctx.ticket is not None:
        return Decision(name, Verdict.SKIP, f"belongs to ticket #{ctx.ticket.number}")
    if config.allow_new_tickets:
        return Decision(name, Verdict.PASS, "new tickets are allowed")
    ctx.stop(Outcome.EXCLUDED, REASON)
    ctx.trace.append(
        Decision(name, Verdict.EXCLUDED, f"{REASON} (tickets.allow_new_tickets is off): kept")
    )
    template = config.no_new_tickets_reply
    if template is None:
        return Decision(name, Verdict.SKIP, "no reply configured (tickets.no_new_tickets_reply)")
    refusal = "history import: never answered" if ctx.history else None
    if refusal is None:
        mail = Mail(
            sender=ctx.sender,
            headers=ctx.parsed.headers,
            automatic=automatic(ctx),
            suppress=ctx.parsed.suppress_auto_reply,
        )
        per_hour = ctx.settings.routing.auto_replies_per_hour
        refusal = answer_refusal(mail, ctx.own_addresses, ctx.now, per_hour)
    if refusal is not None:
        return Decision(name, Verdict.SKIP, f"no reply {template!r}: {refusal}")
    ctx.notice = Reply(template, ctx.sender)
    return Decision(name, Verdict.QUEUED, f"reply {template!r} to {ctx.sender}")
