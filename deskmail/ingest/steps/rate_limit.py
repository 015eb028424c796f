"""Exclude a sender mailing faster than `sender_rate_limit`: a loop or a flood."""

from __future__ import annotations

import datetime as dt

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.tickets.models import Message

name = "rate_limit"


def run(ctx: Context) -> Decision:
    limit = ctx.settings.filters.sender_rate_limit
    if limit is None:
        return Decision(name, "pass", "no rate limit")
    if ctx.history:
        return Decision(name, "pass", "history import: arrival rate says nothing")
    if not ctx.sender:
        return Decision(name, "pass", "no sender to count")
    batch = ctx.cache.get("batch")
    if batch is not None:
        batch.flush()
    since = ctx.now - dt.timedelta(minutes=limit.per_minutes)
    count = Message.objects.filter(
        mailbox=ctx.mailbox,
        direction=Message.Direction.IN,
        from_address=ctx.sender,
        received_at__gte=since,
    ).count()
    window = f"{limit.max} per {limit.per_minutes} minutes"
    if count >= limit.max:
        ctx.stop("excluded", f"rate limit: more than {window}")
        return Decision(
            name, "excluded", f"{ctx.sender} sent {count} mails already; limit {window}"
        )
    return Decision(name, "pass", f"{count} mails from {ctx.sender}; limit {window}")
