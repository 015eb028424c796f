"""Write what the steps decided: the message, its references, deliveries, attachments, notes.

The steps decide and mostly keep their decisions in the context; this module
is the one place that persists a message, in the caller's transaction.
"""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.lookups import own_addresses
from deskmail.ingest.steps.dedupe import source_key
from deskmail.ingest.trace import Decision, stamp
from deskmail.outbound.models import OutboxItem
from deskmail.tickets.blobs import store_blob
from deskmail.tickets.models import (
    Attachment,
    Blob,
    Delivery,
    InternalNote,
    Message,
    MessageReference,
)


def _delivery(ctx: Context, message: Message) -> Delivery:
    source = ctx.source
    return Delivery(
        message=message,
        mailbox=ctx.fetched_by or ctx.mailbox,
        address=ctx.address or (ctx.delivered_to or "").lower(),
        source_kind=source.kind if source else "",
        source_folder=source.folder if source else "",
        source_uidvalidity=source.uidvalidity if source else None,
        source_uid=source.uid if source else "",
        source_key=source_key(ctx),
        raw_sha256=ctx.sha256,
    )


def _add_delivery(ctx: Context, message: Message) -> None:
    delivery = _delivery(ctx, message)
    batch = ctx.cache.get("batch")
    if batch is None:
        delivery.save()
        return
    batch.deliveries.append(delivery)
    batch.stored(message.message_id, (delivery.source_key, ctx.sha256))


def record_again(ctx: Context, message: Message) -> None:
    """A known message delivered once more: add the delivery and say so in its trace."""
    if any(d.verdict == "duplicate" and "source position" in d.reason for d in ctx.trace):
        return  # the very same delivery fetched again: nothing new to record
    _add_delivery(ctx, message)
    via = ctx.address or ctx.delivered_to or (ctx.fetched_by or ctx.mailbox).address
    decision = Decision(
        "dedupe",
        "delivery",
        f"delivered again via {via} (mailbox {(ctx.fetched_by or ctx.mailbox).name})",
        {"source": source_key(ctx)},
    )
    message.trace = [*message.trace, stamp(decision, ctx.now)]
    if message.pk is not None:  # a message of this batch is inserted with its trace
        message.save(update_fields=["trace"])


def _attach(ctx: Context, message: Message, data: bytes, **fields: object) -> None:
    digest = store_blob(data)
    blob, _ = Blob.objects.get_or_create(sha256=digest, defaults={"size": len(data)})
    row = Attachment(message=message, blob=blob, size=len(data), **fields)
    batch = ctx.cache.get("batch")
    if batch is not None:
        batch.attachments.append(row)
    else:
        row.save()


def save(ctx: Context) -> Message:
    """Persist the message (and the ticket the steps opened or changed)."""
    if ctx.message is not None:
        record_again(ctx, ctx.message)
        return ctx.message
    parsed = ctx.parsed
    ticket = ctx.ticket
    ours = own_addresses(ctx)
    batch = ctx.cache.get("batch")
    if ticket is not None and not ctx.stopped:
        if batch is not None and ticket.pk is not None:
            ticket.updated_at = ctx.now
            batch.dirty[ticket.pk] = ticket
        else:
            ticket.save()
            if batch is not None:
                batch.tickets[ticket.pk] = ticket
    message = Message(
        ticket=ticket,
        mailbox=ctx.mailbox,
        direction=Message.Direction.OUT if parsed.from_address in ours else Message.Direction.IN,
        message_id=ctx.message_id,
        synthetic_message_id=ctx.synthetic_message_id,
        in_reply_to=parsed.in_reply_to or "",
        references=list(parsed.references),
        subject=parsed.subject,
        from_address=parsed.from_address[:254],
        from_name=parsed.from_name[:300],
        to=[a.address for a in parsed.to],
        cc=[a.address for a in parsed.cc],
        date=parsed.date,
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        reply_text=parsed.reply_text,
        auto_submitted=ctx.auto_reply,
        bounce=ctx.bounce,
        headers=parsed.headers,
        raw_sha256=ctx.sha256,
        raw_size=len(ctx.raw),
        trace=[stamp(d, ctx.now) for d in ctx.trace],
        excluded=ctx.outcome == "excluded",
        excluded_reason=ctx.excluded_reason[:500],
        received_at=ctx.now,
    )
    if batch is not None:
        batch.add_message(message)
    else:
        message.save(force_insert=True)
    refs = {r for r in [parsed.in_reply_to, *parsed.references] if r}
    rows = [MessageReference(message=message, ref=r[:998]) for r in sorted(refs)]
    if batch is not None:
        batch.references.extend(rows)
        batch.threaded(message.message_id, ticket)
    elif rows:
        MessageReference.objects.bulk_create(rows)
    _add_delivery(ctx, message)
    for item in parsed.attachments:
        if item.data is None:
            continue
        _attach(
            ctx,
            message,
            item.data,
            filename=item.filename[:500],
            content_type=item.content_type[:200],
            inline=item.inline,
            content_id=item.content_id or "",
        )
    if ctx.attach_original and ticket is not None and not ctx.stopped:
        _attach(ctx, message, ctx.raw, filename="original.eml", content_type="message/rfc822")
    if ctx.note and ticket is not None:
        note = InternalNote(
            ticket=ticket, kind=InternalNote.Kind.DELIVERY_FAILURE, body=ctx.note, message=message
        )
        if batch is not None:
            batch.notes.append(note)
        else:
            note.save()
    if ctx.acknowledge and ticket is not None:
        OutboxItem.objects.create(kind=OutboxItem.Kind.AUTO_ACK, ticket=ticket)
    return message
