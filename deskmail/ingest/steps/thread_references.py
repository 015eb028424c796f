"""Find the ticket by In-Reply-To/References: any stored Message-ID, or a shared ancestor."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.outbound.tokens import ticket_from_token

name = "thread_references"


def chain(ctx: Context) -> list[str]:
    """In-Reply-To first (the direct parent), then References newest first."""
    ids: list[str] = []
    for ref in [ctx.parsed.in_reply_to, *reversed(ctx.parsed.references)]:
        if ref and ref not in ids and ref != ctx.message_id:
            ids.append(ref)
    return ids


def run(ctx: Context) -> Decision:
    ids = chain(ctx)
    if not ids:
        return Decision(name, Verdict.MISS, "new mail: no In-Reply-To or References")
    found = ctx.store.ticket_for_references(ids)
    if found is not None:
        ref, ctx.ticket = found
        return Decision(
            name, Verdict.HIT, f"refers to <{ref}> in ticket #{ctx.ticket.number}", {"ref": ref}
        )
    # Our own signed Message-IDs name their ticket even when the message is not stored
    # here (a restored backup, an outbox row not yet recorded as a message).
    number = next((n for n in map(ticket_from_token, ids) if n is not None), None)
    if number is not None:
        ticket = ctx.store.ticket_by_number(number)
        if ticket is not None:
            ctx.ticket = ticket
            return Decision(
                name,
                Verdict.HIT,
                f"our signed Message-ID names ticket #{number}",
                {"number": number},
            )
    # The first mail of the thread may never have reached us: a stored message that
    # names the same ancestor in its own References belongs to the same thread.
    sibling = ctx.store.ticket_sharing_ancestor(ids)
    if sibling is not None:
        ctx.ticket = sibling.ticket
        return Decision(
            name,
            Verdict.HIT,
            f"shares the ancestor <{sibling.ref}> with <{sibling.message_id}> "
            f"in ticket #{sibling.ticket.number}",
            {"ref": sibling.ref},
        )
    return Decision(name, Verdict.MISS, f"none of {len(ids)} referenced Message-IDs is known")
