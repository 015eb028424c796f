"""Queue an auto-acknowledgement for a new ticket; never for auto-replies, bounces or history."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.lookups import own_addresses
from deskmail.ingest.trace import Decision

name = "acknowledge"


def run(ctx: Context) -> Decision:
    if not ctx.settings.replies.auto_acknowledge:
        return Decision(name, "skip", "auto_acknowledge is off")
    if not ctx.new_ticket:
        return Decision(name, "skip", "not a new ticket")
    if ctx.history:
        return Decision(name, "skip", "history import: never acknowledged")
    if ctx.auto_reply or ctx.bounce:
        return Decision(name, "skip", "an automatic mail is never answered")
    if not ctx.sender:
        return Decision(name, "skip", "no sender to answer")
    if ctx.sender in own_addresses(ctx):
        return Decision(name, "skip", "our own mail is never acknowledged")
    ctx.acknowledge = True
    return Decision(name, "queued", f"acknowledgement to {ctx.sender}")
