"""Write what the steps decided: the message, its references, deliveries, attachments, notes.

The steps decide and keep their decisions in the context; this module turns
them into rows, through the store, in the caller's transaction.
"""

from __future__ import annotations

from deskmail.events.models import Event
from deskmail.ingest.context import Context
from deskmail.ingest.tokens import confirmation_link
from deskmail.ingest.trace import Decision, stamp, stamped
from deskmail.ingest.types import Duplicate, Outcome, Verdict
from deskmail.tickets.blobs import store_blob
from deskmail.tickets.models import Attachment, Delivery, InternalNote, Message, Ticket


def _delivery(ctx: Context, message: Message) -> Delivery:
    source = ctx.source
    return Delivery(
        message=message,
        mailbox=ctx.fetched_by,
        address=ctx.address or (ctx.delivered_to or "").lower(),
        source_kind=source.kind if source else "",
        source_folder=source.folder if source else "",
        source_uidvalidity=source.uidvalidity if source else None,
        source_uid=source.uid if source else "",
        source_key=ctx.source_key,
        raw_sha256=ctx.sha256,
    )


def record_again(ctx: Context, message: Message) -> None:
    """A known message delivered once more: add the delivery and say so in its trace."""
    if ctx.duplicate == Duplicate.SAME_DELIVERY:
        return  # the very same delivery fetched again: nothing new to record
    ctx.store.add_delivery(_delivery(ctx, message))
    via = ctx.address or ctx.delivered_to or ctx.fetched_by.address
    decision = Decision(
        "dedupe",
        Verdict.DELIVERY,
        f"delivered again via {via} (mailbox {ctx.fetched_by.name})",
        {"source": ctx.source_key},
    )
    message.trace = [*message.trace, stamp(decision, ctx.now)]
    ctx.store.save_trace(message)


def _attach(ctx: Context, message: Message, data: bytes, **fields: str | bool) -> None:
    blob = ctx.store.blob(store_blob(data), len(data))
    ctx.store.add_attachment(Attachment(message=message, blob=blob, size=len(data), **fields))


def _message(ctx: Context) -> Message:
    parsed = ctx.parsed
    outgoing = parsed.from_address in ctx.own_addresses
    return Message(
        ticket=ctx.ticket,
        mailbox=ctx.mailbox,
        direction=Message.Direction.OUT if outgoing else Message.Direction.IN,
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
        trace=stamped(ctx.trace, ctx.now),
        excluded=ctx.outcome == Outcome.EXCLUDED,
        excluded_reason=ctx.excluded_reason[:500],
        received_at=ctx.now,
    )


def save(ctx: Context) -> Message:
    """Persist the message (and the ticket the steps opened or changed)."""
    if ctx.message is not None:
        record_again(ctx, ctx.message)
        return ctx.message
    ticket = ctx.ticket
    if ticket is not None and not ctx.stopped:
        ctx.store.save_ticket(ticket, ctx.now)
    message = _message(ctx)
    parsed = ctx.parsed
    refs = sorted({r[:998] for r in [parsed.in_reply_to, *parsed.references] if r})
    ctx.store.add_message(message, refs)
    ctx.store.add_delivery(_delivery(ctx, message))
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
        ctx.store.add_note(note)
    if ctx.notice is not None and not ctx.history:
        ctx.store.queue_notice(ctx.mailbox, message, ctx.notice)
    if ticket is not None and not ctx.stopped:
        routed(ctx, ticket)
        if ctx.confirm_to:
            ctx.store.queue_confirmation(
                ticket,
                ctx.confirm_to,
                confirmation_link(ticket),
                ctx.settings.tickets.confirm_within_hours,
            )
    # A ticket waiting for its sender's confirmation is not news for the agents yet.
    if ticket is not None and not ctx.stopped and not ctx.history and not ticket.confirmation:
        if ctx.new_ticket:
            ctx.store.emit(Event.Kind.TICKET_CREATED, message)
        ctx.store.emit(Event.Kind.MESSAGE_RECEIVED, message)
        if ctx.webhooks:
            ctx.store.tell_webhooks(ticket, ctx.webhooks)
    return message


def routed(ctx: Context, ticket: Ticket) -> None:
    """What routing, the triggers and the acknowledgement decided, on the saved ticket."""
    if ctx.acknowledge:
        ctx.store.queue_auto_ack(ticket)
    if ctx.tags:
        ctx.store.add_tags(ticket, ctx.tags)
    if ctx.notes:
        ctx.store.add_trigger_notes(ticket, ctx.notes)
    for reply in ctx.auto_replies:
        ctx.store.queue_auto_reply(ticket, reply)
    if ctx.offer is not None:
        ctx.store.offer(ticket, *ctx.offer, ctx.now)
    if ctx.agent_notices:
        ctx.store.notify_agents(ticket, ctx.agent_notices)
