"""Queue an auto-acknowledgement for a new ticket; never for auto-replies, bounces or history."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.steps.route import waiting
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict

name = "acknowledge"


def run(ctx: Context) -> Decision:
    if not ctx.settings.replies.auto_acknowledge:
        return Decision(name, Verdict.SKIP, "auto_acknowledge is off")
    if not ctx.new_ticket:
        return Decision(name, Verdict.SKIP, "not a new ticket")
    if (why := waiting(ctx)) is not None:
        return Decision(name, Verdict.SKIP, why)
    if ctx.history:
        return Decision(name, Verdict.SKIP, "history import: never acknowledged")
    if ctx.auto_reply or ctx.bounce:
        return Decision(name, Verdict.SKIP, "an automatic mail is never answered")
    if ctx.parsed.suppress_auto_reply:
        return Decision(
            name,
            Verdict.SKIP,
            "the sender asked for no automatic answers (X-Auto-Response-Suppress)",
        )
    if not ctx.sender:
        return Decision(name, Verdict.SKIP, "no sender to answer")
    if ctx.sender in ctx.own_addresses:
        return Decision(name, Verdict.SKIP, "our own mail is never acknowledged")
    if ctx.auto_replies:
        # One automatic answer per mail: the routing's (after hours, say) says more.
        template = ctx.auto_replies[0].template
        return Decision(name, Verdict.SKIP, f"the auto-reply {template!r} answers this mail")
    ctx.acknowledge = True
    return Decision(name, Verdict.QUEUED, f"acknowledgement to {ctx.sender}")
