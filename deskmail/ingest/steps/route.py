"""Put a new ticket in the mailbox's queue and type, then follow its routing actions."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.routing.engine import Mail, Router

name = "route"


def automatic(ctx: Context) -> str:
    """Why the pipeline found the mail automatic, in words; "" when a person wrote it."""
    if ctx.bounce:
        return "a bounce"
    if ctx.auto_reply:
        return "an auto-reply"
    return ""


def router(ctx: Context) -> Router:
    """The routing rules' view of this message and its ticket."""
    assert ctx.ticket is not None
    mail = Mail(
        sender=ctx.sender,
        subject=ctx.parsed.subject,
        body=ctx.parsed.body_text,
        headers=ctx.parsed.headers,
        automatic=automatic(ctx),
        suppress=ctx.parsed.suppress_auto_reply,
    )
    # Working hours are those of the mail's arrival; for history, of its own Date.
    at = ctx.mail_time if ctx.history else ctx.now
    return Router(ctx.mailbox, ctx.ticket, mail, at=at, own=ctx.own_addresses, history=ctx.history)


def record(ctx: Context, step: str, found: Router) -> Decision | None:
    """Write the router's lines into the trace (all but the last); the last, as the step's."""
    decisions = [Decision(step, Verdict(ln.verdict), ln.reason, ln.data) for ln in found.lines]
    ctx.tags = [*ctx.tags, *(t for t in found.tags if t not in ctx.tags)]
    ctx.auto_replies = [*ctx.auto_replies, *found.replies]
    ctx.notes = [*ctx.notes, *found.notes]
    ctx.webhooks = [*ctx.webhooks, *found.webhooks]
    ctx.agent_notices = [*ctx.agent_notices, *found.agent_notices]
    if found.offer is not None:
        reason = next(ln.reason for ln in reversed(found.lines) if ln.verdict == "assigned")
        ctx.offer = (found.offer, reason)
    elif ctx.ticket is not None and ctx.offer is not None:
        if ctx.ticket.assignee_id != ctx.offer[0].pk:
            ctx.offer = None  # a trigger gave the ticket to someone else
    if not decisions:
        return None
    ctx.trace.extend(decisions[:-1])
    return decisions[-1]


def waiting(ctx: Context) -> str | None:
    """Why the ticket's routing waits: its sender has not confirmed, or this mail confirmed
    it (the ticket's first mail is routed then); None when nothing waits."""
    if ctx.released:
        return "the confirmed ticket is routed from its first mail"
    if ctx.held or (ctx.ticket is not None and ctx.ticket.confirmation):
        return "the ticket waits for its sender's confirmation"
    return None


def run(ctx: Context) -> Decision:
    ticket = ctx.ticket
    if not ctx.new_ticket or ticket is None:
        return Decision(name, Verdict.SKIP, "routing applies when a ticket opens")
    if (why := waiting(ctx)) is not None:
        return Decision(name, Verdict.SKIP, why)
    config = ctx.settings.tickets
    done = []
    if config.queue:
        ticket.queue = ctx.store.queue(config.queue)
        done.append(f"queue {config.queue}")
    if config.type:
        ticket.type = ctx.store.ticket_type(config.type)
        done.append(f"type {config.type}")
    first = Decision(name, Verdict.ROUTED, ", ".join(done)) if done else None
    if not ctx.settings.routing.actions:
        return first or Decision(name, Verdict.PASS, "no queue or type configured")
    if first is not None:
        ctx.trace.append(first)
    plan = router(ctx)
    plan.run_actions()
    last = record(ctx, name, plan)
    return last or Decision(name, Verdict.PASS, "the routing actions changed nothing")
