"""An agent's answer to one of our notices about a ticket becomes an internal note on it."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.steps.thread_references import chain
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict
from deskmail.routing.agent_notices import record_answer

name = "notice_reply"


def run(ctx: Context) -> Decision:
    ids = chain(ctx)
    if not ids:
        return Decision(name, Verdict.PASS, "new mail: no notice to look for")
    notice = ctx.store.answered_notice(ids, ctx.sender)
    if notice is None:
        return Decision(name, Verdict.PASS, "not an agent's answer to one of our notices")
    ticket = notice.ticket
    assert ticket is not None
    parsed = ctx.parsed
    note = record_answer(notice, ctx.sender, parsed.reply_text or parsed.body_text)
    # Kept, on no ticket's thread: the note holds what the agent wrote.
    ctx.ticket = None
    reason = f"{ctx.sender} answered the notice about ticket #{ticket.number}"
    ctx.stop(Outcome.EXCLUDED, reason)
    return Decision(
        name,
        Verdict.MATCHED,
        f"{reason}: an internal note on the ticket, not in the customer's thread",
        {"ticket": ticket.number, "note": note.pk},
    )
