"""Stop mail that carries our own X-Loop header: it is our mail coming back."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.lookups import own_addresses
from deskmail.ingest.trace import Decision

name = "loop"


def run(ctx: Context) -> Decision:
    values = ctx.parsed.headers.get("x-loop", [])
    ours = own_addresses(ctx)
    for value in values:
        address = value.strip().strip("<>").lower()
        if address in ours:
            ctx.stop("excluded", f"loop: X-Loop {address}")
            return Decision(name, "loop", f"X-Loop: {address} is our own address: a mail loop")
    if values:
        return Decision(name, "pass", f"X-Loop {', '.join(values)} is not ours")
    return Decision(name, "pass", "no X-Loop header")
