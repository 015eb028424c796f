"""Stop our own mail coming back: our signed Message-ID, or our X-Loop header."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict
from deskmail.outbound.tokens import ticket_from_token

name = "loop"


def run(ctx: Context) -> Decision:
    number = ticket_from_token(ctx.message_id)
    if ctx.history:
        # An archive holds our own sent mail too: it is imported as outgoing mail.
        if number is not None or ctx.parsed.headers.get("x-loop"):
            return Decision(name, Verdict.PASS, "history import: our own sent mail is not a loop")
        return Decision(name, Verdict.PASS, "history import")
    if number is not None:
        ctx.stop(Outcome.EXCLUDED, "loop: our own outgoing mail came back")
        return Decision(
            name, Verdict.LOOP, f"<{ctx.message_id}> is our signed Message-ID (ticket #{number})"
        )
    values = ctx.parsed.headers.get("x-loop", [])
    ours = ctx.own_addresses
    for value in values:
        address = value.strip().strip("<>").lower()
        if address in ours:
            ctx.stop(Outcome.EXCLUDED, f"loop: X-Loop {address}")
            return Decision(
                name, Verdict.LOOP, f"X-Loop: {address} is our own address: a mail loop"
            )
    if values:
        return Decision(name, Verdict.PASS, f"X-Loop {', '.join(values)} is not ours")
    return Decision(name, Verdict.PASS, "no X-Loop header")
