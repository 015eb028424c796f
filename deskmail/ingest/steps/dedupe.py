"""Drop a message already stored under its Message-ID (another delivery of it), or our own."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Duplicate, Outcome, Verdict
from deskmail.tickets.models import Message

name = "dedupe"


def run(ctx: Context) -> Decision:
    key = ctx.source_key
    existing = ctx.store.message_by_id(ctx.message_id)
    if existing is None:
        return Decision(name, Verdict.PASS, "not seen before", {"source": key})
    if existing.direction == Message.Direction.OUT and not ctx.history:
        ctx.message, ctx.ticket = existing, existing.ticket
        ctx.stop(Outcome.EXCLUDED, "loop: our own outgoing mail came back")
        return Decision(
            name,
            Verdict.LOOP,
            f"<{ctx.message_id}> is a mail we sent; it came back and is not ingested again",
        )
    ctx.found_duplicate(Duplicate.SAME_MESSAGE, existing)
    where = f" in ticket #{existing.ticket.number}" if existing.ticket else ""
    return Decision(
        name,
        Verdict.DUPLICATE,
        f"<{ctx.message_id}> is already stored{where}: another delivery of it",
        {"message": existing.pk},
    )
