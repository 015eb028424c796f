"""A reply to one of our task mails joins the task's history, not the customer's thread."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.steps.thread_references import chain
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict
from deskmail.tasks.replies import record_reply, task_named_by

name = "task_reply"


def run(ctx: Context) -> Decision:
    ids = chain(ctx)
    if not ids:
        return Decision(name, Verdict.PASS, "new mail: no task token to look for")
    number, task = task_named_by(ids)
    if number is None:
        return Decision(name, Verdict.PASS, "no signed task token in In-Reply-To or References")
    if task is None:
        return Decision(
            name,
            Verdict.MISS,
            f"our signed task token names task {number}, which no longer exists; "
            "threading as usual",
            {"task": number},
        )
    ticket = task.ticket
    parsed = ctx.parsed
    entry = record_reply(
        task,
        sender=parsed.from_address,
        sender_name=parsed.from_name,
        text=parsed.reply_text or parsed.body_text,
        message_id=ctx.message_id,
        at=ctx.now,
        history=ctx.history,
    )
    # Kept, on no ticket's thread: the task's history names this stored mail.
    ctx.ticket = None
    reason = f"a reply to task {task.pk} of ticket #{ticket.number}"
    ctx.stop(Outcome.EXCLUDED, reason)
    return Decision(
        name,
        Verdict.MATCHED,
        f"{reason}: kept in the task's history, not in the customer's thread",
        {"task": task.pk, "ticket": ticket.number, "entry": entry.pk},
    )
