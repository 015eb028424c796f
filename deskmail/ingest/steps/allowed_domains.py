"""Exclude senders outside the mailbox's allowed domains (exact domain or its subdomains)."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict
from deskmail.mail.domains import domain_matches, domain_of

name = "allowed_domains"


def run(ctx: Context) -> Decision:
    allowed = ctx.settings.filters.allowed_domains
    if not allowed:
        return Decision(name, Verdict.PASS, "every domain is allowed")
    domain = domain_of(ctx.sender)
    for pattern in allowed:
        if domain and domain_matches(domain, pattern):
            return Decision(name, Verdict.PASS, f"{domain} is allowed by {pattern}")
    ctx.stop(Outcome.EXCLUDED, f"sender domain {domain or '(none)'} not allowed")
    return Decision(
        name, Verdict.EXCLUDED, f"{ctx.sender or '(no sender)'} is not in {', '.join(allowed)}"
    )
