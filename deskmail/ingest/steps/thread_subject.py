"""Combine new mail with a recent open ticket of the same normalised subject, if configured."""

from __future__ import annotations

import datetime as dt

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.mail.subjects import normalise
from deskmail.tickets.models import Ticket

name = "thread_subject"


def run(ctx: Context) -> Decision:
    combine = ctx.settings.threading.combine_same_subject
    if combine is None:
        return Decision(name, "skip", "same-subject combining is off")
    if ctx.ticket is not None or ctx.linked_from is not None:
        return Decision(name, "skip", "ticket already found")
    if ctx.is_reply:
        return Decision(name, "skip", "a reply: only new mail is combined by subject")
    key = normalise(ctx.parsed.subject)
    if not key:
        return Decision(name, "miss", "empty subject")
    batch = ctx.cache.get("batch")
    if batch is not None:
        batch.flush()  # statuses changed earlier in the batch must be visible
    when = ctx.mail_time
    window = dt.timedelta(hours=combine.within_hours)
    ticket = (
        Ticket.objects.filter(
            mailbox=ctx.mailbox,
            subject_key=key,
            status__in=combine.statuses,
            first_mail_at__gte=when - window,
            first_mail_at__lte=when + window,
        )
        .order_by("-first_mail_at", "-number")
        .first()
    )
    if ticket is None:
        return Decision(
            name,
            "miss",
            f"no {'/'.join(combine.statuses)} ticket titled {key!r} "
            f"within {combine.within_hours:g} h of {when.isoformat()}",
        )
    ctx.ticket = ticket = ctx.adopt(ticket)
    return Decision(
        name, "hit", f"same subject {key!r} as ticket #{ticket.number} within the window"
    )
