"""Put a new ticket in the mailbox's queue and type (created on first use)."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict

name = "route"


def run(ctx: Context) -> Decision:
    ticket = ctx.ticket
    if not ctx.new_ticket or ticket is None:
        return Decision(name, Verdict.SKIP, "routing applies when a ticket opens")
    config = ctx.settings.tickets
    done = []
    if config.queue:
        ticket.queue = ctx.store.queue(config.queue)
        done.append(f"queue {config.queue}")
    if config.type:
        ticket.type = ctx.store.ticket_type(config.type)
        done.append(f"type {config.type}")
    if not done:
        return Decision(name, Verdict.PASS, "no queue or type configured")
    return Decision(name, Verdict.ROUTED, ", ".join(done))
