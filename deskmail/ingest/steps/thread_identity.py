"""Find the ticket by the mailbox's identity rule: mails with the same match share a ticket."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.mailboxes import patterns
from deskmail.mailboxes.patterns import PatternTimeout

name = "thread_identity"


def run(ctx: Context) -> Decision:
    rule = ctx.settings.threading.identity_rule
    if rule is None:
        return Decision(name, Verdict.SKIP, "no identity rule")
    text = ctx.parsed.subject if rule.match == "subject" else ctx.parsed.body_text
    try:
        match = patterns.search(rule.pattern, text or "")
    except PatternTimeout as exc:
        return Decision(name, Verdict.SKIP, f"the identity rule was stopped: {exc}")
    if match is None:
        return Decision(name, Verdict.MISS, f"{rule.pattern!r} does not match the {rule.match}")
    ctx.identity_key = match.group(0).strip().casefold()[:500]
    if ctx.ticket is not None or ctx.linked_from is not None:
        return Decision(name, Verdict.SKIP, f"ticket already found; identity {ctx.identity_key!r}")
    ticket = ctx.store.ticket_by_identity(ctx.mailbox, ctx.identity_key)
    if ticket is None:
        return Decision(name, Verdict.MISS, f"identity {ctx.identity_key!r}: no ticket yet")
    ctx.ticket = ticket
    return Decision(
        name,
        Verdict.HIT,
        f"identity {ctx.identity_key!r} belongs to ticket #{ticket.number}",
        {"identity": ctx.identity_key},
    )
