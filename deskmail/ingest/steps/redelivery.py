"""Drop the same bytes fetched again from the same source position, before parsing them."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Duplicate, Verdict

name = "redelivery"


def run(ctx: Context) -> Decision:
    key = ctx.source_key
    if not key:
        return Decision(name, Verdict.PASS, "no source position")
    seen = ctx.store.delivered_before(ctx.fetched_by, key, ctx.sha256)
    if seen is None:
        return Decision(name, Verdict.PASS, f"new at source position {key}", {"source": key})
    # A source that lost its place (a crash, a resumed import) offers it again.
    ctx.found_duplicate(Duplicate.SAME_DELIVERY, seen)
    return Decision(
        name, Verdict.DUPLICATE, f"already stored from source position {key}", {"source": key}
    )
