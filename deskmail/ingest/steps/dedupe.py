"""Drop a message already stored: the same bytes from the same position, or a known Message-ID."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.tickets.models import Delivery, Message

if TYPE_CHECKING:
    from deskmail.ingest.api import SourcePosition

name = "dedupe"


def position_key(source: SourcePosition | None) -> str:
    """kind:folder:uidvalidity:uid, or "" for no position."""
    if source is None:
        return ""
    s = source
    return f"{s.kind}:{s.folder}:{s.uidvalidity if s.uidvalidity is not None else ''}:{s.uid}"


def source_key(ctx: Context) -> str:
    return position_key(ctx.source)


def run(ctx: Context) -> Decision:
    key = source_key(ctx)
    batch = ctx.cache.get("batch")
    if key and not (batch is not None and (key, ctx.sha256) in batch.absent_positions):
        if batch is not None:
            batch.flush()
        seen = (
            Delivery.objects.filter(mailbox=ctx.fetched_by, source_key=key, raw_sha256=ctx.sha256)
            .select_related("message__ticket")
            .order_by()[:1]
        )
        seen = next(iter(seen), None)
        if seen is not None:
            ctx.message, ctx.ticket = seen.message, ctx.adopt(seen.message.ticket)
            ctx.stop("duplicate")
            return Decision(
                name, "duplicate", f"already stored from source position {key}", {"source": key}
            )
    if batch is not None and ctx.message_id in batch.absent_ids:
        return Decision(name, "pass", "not seen before", {"source": key})
    pending = batch.pending(ctx.message_id) if batch is not None else None
    found = (
        [pending]
        if pending is not None
        else Message.objects.filter(message_id=ctx.message_id).select_related("ticket").order_by()
    )
    existing = next(iter(found[:1]), None)
    if existing is None:
        return Decision(name, "pass", "not seen before", {"source": key})
    ctx.message, ctx.ticket = existing, ctx.adopt(existing.ticket)
    if existing.direction == Message.Direction.OUT and not ctx.history:
        ctx.stop("excluded", "loop: our own outgoing mail came back")
        return Decision(
            name,
            "loop",
            f"<{ctx.message_id}> is a mail we sent; it came back and is not ingested again",
        )
    ctx.stop("duplicate")
    where = f" in ticket #{existing.ticket.number}" if existing.ticket else ""
    return Decision(
        name,
        "duplicate",
        f"<{ctx.message_id}> is already stored{where}: another delivery of it",
        {"message": existing.pk},
    )
