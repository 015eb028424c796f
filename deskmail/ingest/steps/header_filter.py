"""Exclude mail without the headers the mailbox's inbound header filter requires."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict
from deskmail.mail.headerfilter import matches, parse_header_filter

name = "header_filter"


def run(ctx: Context) -> Decision:
    inbound = ctx.settings.inbound
    text = inbound.header_filter if inbound is not None else None
    if not text:
        return Decision(name, Verdict.SKIP, "no header filter")
    if ctx.source is not None and ctx.source.kind == "import":
        # Archives never passed the server's scanners whose headers the filter asks for.
        return Decision(name, Verdict.SKIP, "imported from an archive")
    if matches(parse_header_filter(text), ctx.raw):
        return Decision(name, Verdict.PASS, f"has the headers of {text!r}")
    ctx.stop(Outcome.EXCLUDED, f"header filter {text!r} not satisfied")
    return Decision(name, Verdict.EXCLUDED, f"lacks the headers of {text!r}")
