"""Exclude blocked senders: an address, or `@domain` for a domain and its subdomains."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict
from deskmail.mail.domains import domain_matches, domain_of

name = "blocked_senders"


def run(ctx: Context) -> Decision:
    sender = ctx.sender
    for entry in ctx.settings.filters.blocked_senders:
        if entry.startswith("@"):
            hit = bool(sender) and domain_matches(domain_of(sender), entry)
        else:
            hit = sender == entry
        if hit:
            ctx.stop(Outcome.EXCLUDED, f"blocked sender ({entry})")
            return Decision(name, Verdict.EXCLUDED, f"{sender} is blocked by {entry}")
    return Decision(name, Verdict.PASS, f"{sender or '(no sender)'} is not blocked")
