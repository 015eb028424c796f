"""Combine new mail with a recent open ticket of the same normalised subject, if configured."""

from __future__ import annotations

import datetime as dt

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.mail.subjects import normalise

name = "thread_subject"


def run(ctx: Context) -> Decision:
    combine = ctx.settings.threading.combine_same_subject
    if combine is None:
        return Decision(name, Verdict.SKIP, "same-subject combining is off")
    if ctx.ticket is not None or ctx.linked_from is not None:
        return Decision(name, Verdict.SKIP, "ticket already found")
    if ctx.is_reply:
        return Decision(name, Verdict.SKIP, "a reply: only new mail is combined by subject")
    key = normalise(ctx.parsed.subject)
    if not key:
        return Decision(name, Verdict.MISS, "empty subject")
    when = ctx.mail_time
    window = dt.timedelta(hours=combine.within_hours)
    statuses: list[str] = list(combine.statuses)
    ticket = ctx.store.ticket_by_subject(ctx.mailbox, key, statuses, when - window, when + window)
    if ticket is None:
        return Decision(
            name,
            Verdict.MISS,
            f"no {'/'.join(statuses)} ticket titled {key!r} "
            f"within {combine.within_hours:g} h of {when.isoformat()}",
        )
    ctx.ticket = ticket
    return Decision(
        name, Verdict.HIT, f"same subject {key!r} as ticket #{ticket.number} within the window"
    )
