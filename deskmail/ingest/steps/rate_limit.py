"""Exclude a sender mailing faster than `sender_rate_limit`: a loop or a flood."""

from __future__ import annotations

import datetime as dt

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict

name = "rate_limit"


def run(ctx: Context) -> Decision:
    limit = ctx.settings.filters.sender_rate_limit
    if limit is None:
        return Decision(name, Verdict.PASS, "no rate limit")
    if ctx.history:
        return Decision(name, Verdict.PASS, "history import: arrival rate says nothing")
    if not ctx.sender:
        return Decision(name, Verdict.PASS, "no sender to count")
    since = ctx.now - dt.timedelta(minutes=limit.per_minutes)
    count = ctx.store.sender_count(ctx.mailbox, ctx.sender, since)
    window = f"{limit.max} per {limit.per_minutes} minutes"
    if count >= limit.max:
        ctx.stop(Outcome.EXCLUDED, f"rate limit: more than {window}")
        return Decision(
            name, Verdict.EXCLUDED, f"{ctx.sender} sent {count} mails already; limit {window}"
        )
    return Decision(name, Verdict.PASS, f"{count} mails from {ctx.sender}; limit {window}")
