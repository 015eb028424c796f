"""Find the ticket by In-Reply-To/References: any stored Message-ID, or a shared ancestor."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.outbound.tokens import ticket_from_token
from deskmail.tickets.models import Message, MessageReference, Ticket

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
        return Decision(name, "miss", "new mail: no In-Reply-To or References")
    batch = ctx.cache.get("batch")
    known = batch.ticket_for(ids) if batch is not None else False
    if known:
        ref, ctx.ticket = known  # type: ignore[misc]
        return Decision(
            name, "hit", f"refers to <{ref}> in ticket #{ctx.ticket.number}", {"ref": ref}
        )
    found = (
        {}
        if known is None
        else {
            m.message_id: m
            for m in Message.objects.filter(message_id__in=ids, ticket__isnull=False)
            .select_related("ticket")
            .only("message_id", "ticket")
            .order_by()
        }
    )
    for ref in ids:
        if ref in found:
            ctx.ticket = ctx.adopt(found[ref].ticket)
            return Decision(
                name,
                "hit",
                f"refers to <{ref}> in ticket #{ctx.ticket.number}",  # type: ignore[union-attr]
                {"ref": ref},
            )
    # Our own signed Message-IDs name their ticket even when the message is not stored
    # here (a restored backup, an outbox row not yet recorded as a message).
    number = next((n for n in map(ticket_from_token, ids) if n is not None), None)
    if number is not None:
        ticket = Ticket.objects.filter(number=number).first()
        if ticket is not None:
            ctx.ticket = ctx.adopt(ticket)
            return Decision(
                name, "hit", f"our signed Message-ID names ticket #{number}", {"number": number}
            )
    # The first mail of the thread may never have reached us: a stored message that
    # names the same ancestor in its own References belongs to the same thread.
    if batch is not None:
        batch.flush()
    sibling = (
        MessageReference.objects.filter(ref__in=ids, message__ticket__isnull=False)
        .select_related("message__ticket")
        .order_by("-message__received_at", "-message_id")
        .first()
    )
    if sibling is not None:
        ctx.ticket = ctx.adopt(sibling.message.ticket)
        return Decision(
            name,
            "hit",
            f"shares the ancestor <{sibling.ref}> with <{sibling.message.message_id}> "
            f"in ticket #{ctx.ticket.number}",  # type: ignore[union-attr]
            {"ref": sibling.ref},
        )
    return Decision(name, "miss", f"none of {len(ids)} referenced Message-IDs is known")
