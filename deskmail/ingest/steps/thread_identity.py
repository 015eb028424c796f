"""Find the ticket by the mailbox's identity rule: mails with the same match share a ticket."""

from __future__ import annotations

import re

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.tickets.models import Ticket

name = "thread_identity"


def run(ctx: Context) -> Decision:
    rule = ctx.settings.threading.identity_rule
    if rule is None:
        return Decision(name, "skip", "no identity rule")
    text = ctx.parsed.subject if rule.match == "subject" else ctx.parsed.body_text
    match = re.search(rule.pattern, text or "")
    if match is None:
        return Decision(name, "miss", f"{rule.pattern!r} does not match the {rule.match}")
    ctx.identity_key = match.group(0).strip().casefold()[:500]
    if ctx.ticket is not None or ctx.linked_from is not None:
        return Decision(name, "skip", f"ticket already found; identity {ctx.identity_key!r}")
    ticket = (
        Ticket.objects.filter(mailbox=ctx.mailbox, identity_key=ctx.identity_key)
        .order_by("-number")
        .first()
    )
    if ticket is None:
        return Decision(name, "miss", f"identity {ctx.identity_key!r}: no ticket yet")
    ctx.ticket = ticket = ctx.adopt(ticket)
    return Decision(
        name,
        "hit",
        f"identity {ctx.identity_key!r} belongs to ticket #{ticket.number}",
        {"identity": ctx.identity_key},
    )
