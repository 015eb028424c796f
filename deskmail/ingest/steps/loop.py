"""Stop our own mail coming back: our signed Message-ID, or our X-Loop header."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.lookups import own_addresses
from deskmail.ingest.trace import Decision
from deskmail.outbound.tokens import ticket_from_token

name = "loop"


def run(ctx: Context) -> Decision:
    number = ticket_from_token(ctx.message_id)
    if ctx.history:
        # An archive holds our own sent mail too: it is imported as outgoing mail.
        if number is not None or ctx.parsed.headers.get("x-loop"):
            return Decision(name, "pass", "history import: our own sent mail is not a loop")
        return Decision(name, "pass", "history import")
    if number is not None:
        ctx.stop("excluded", "loop: our own outgoing mail came back")
        return Decision(
            name, "loop", f"<{ctx.message_id}> is our signed Message-ID (ticket #{number})"
        )
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
