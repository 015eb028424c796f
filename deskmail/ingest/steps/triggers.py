"""Run the mailbox's triggers on a new ticket, or on a ticket whose customer wrote again."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.steps.route import record, router, waiting
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict

name = "triggers"


def run(ctx: Context) -> Decision:
    if not ctx.settings.routing.triggers:
        return Decision(name, Verdict.SKIP, "no triggers configured")
    if ctx.ticket is None:
        return Decision(name, Verdict.SKIP, "no ticket")
    if (why := waiting(ctx)) is not None:
        return Decision(name, Verdict.SKIP, why)
    if ctx.new_ticket:
        event = "created"
    elif ctx.sender and ctx.sender not in ctx.own_addresses:
        event = "customer_replied"
    else:
        return Decision(name, Verdict.SKIP, "our own mail starts no trigger")
    found = router(ctx)
    # A new ticket's answer from the routing plan counts: one automatic answer per mail.
    found.replies.extend(ctx.auto_replies)
    already = len(found.replies)
    found.run_triggers(event)
    found.replies = found.replies[already:]
    last = record(ctx, name, found)
    return last or Decision(name, Verdict.PASS, f"no trigger for {event.replace('_', ' ')}")
