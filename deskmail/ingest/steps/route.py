"""Put a new ticket in the mailbox's queue and type (created on first use)."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.tickets.models import Queue, TicketType

name = "route"


def run(ctx: Context) -> Decision:
    ticket = ctx.ticket
    if not ctx.new_ticket or ticket is None:
        return Decision(name, "skip", "routing applies when a ticket opens")
    config = ctx.settings.tickets
    done = []
    if config.queue:
        key = f"queue:{config.queue}"
        if key not in ctx.cache:
            ctx.cache[key] = Queue.objects.get_or_create(name=config.queue)[0]
        ticket.queue = ctx.cache[key]
        done.append(f"queue {config.queue}")
    if config.type:
        key = f"type:{config.type}"
        if key not in ctx.cache:
            ctx.cache[key] = TicketType.objects.get_or_create(name=config.type)[0]
        ticket.type = ctx.cache[key]
        done.append(f"type {config.type}")
    if not done:
        return Decision(name, "pass", "no queue or type configured")
    return Decision(name, "routed", ", ".join(done))
