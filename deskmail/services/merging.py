"""Merging a ticket into another, and splitting a message (and what follows) off into a new
ticket. Both are written on the tickets (an activity line, a TicketMerge row listing
exactly what moved) and can be undone.

Threading follows by itself: a later reply names a Message-ID of a message that
moved, and the message now belongs to the ticket the merge or split put it in.
A merged ticket is closed and points at its target (`merged_into`), so people
and the pipeline looking it up by number can follow it.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.models import OutboxItem
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import Counter, InternalNote, Message, Ticket, TicketMerge


def _activity(ticket: Ticket, actor: Actor, text: str) -> None:
    InternalNote.objects.create(
        ticket=ticket, kind=InternalNote.Kind.ACTIVITY, body=text, author_id=actor.user_id
    )


def _updated(actor: Actor, ticket: Ticket, **changes: object) -> None:
    emit(
        Event.Kind.TICKET_UPDATED,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        by=actor.name,
        changes=changes,
    )


def _move(
    ticket_ids: list[int],
    message_ids: list[int],
    note_ids: list[int],
    outbox_ids: list[int],
    to: Ticket,
) -> None:
    Message.objects.filter(pk__in=message_ids, ticket_id__in=ticket_ids).update(ticket=to)
    InternalNote.objects.filter(pk__in=note_ids, ticket_id__in=ticket_ids).update(ticket=to)
    OutboxItem.objects.filter(pk__in=outbox_ids, ticket_id__in=ticket_ids).update(ticket=to)


def _participants(*tickets: Ticket) -> list[str]:
    seen: list[str] = []
    for ticket in tickets:
        for address in ticket.participants:
            if address not in seen:
                seen.append(address)
    return seen


def merge(actor: Actor, source: Ticket, target: Ticket) -> TicketMerge:
    """Move everything of source into target; source is closed and points at target."""
    access.require_act_on(actor, source)
    access.require_act_on(actor, target)
    if source.pk == target.pk:
        raise Invalid("a ticket cannot be merged into itself", field="target")
    if target.merged_into_id is not None:
        raise Invalid(
            f"#{target.number} was itself merged into another ticket; merge into that one",
            field="target",
        )
    now = timezone.now()
    with transaction.atomic():
        source, target = (
            Ticket.objects.select_for_update().get(pk=source.pk),
            Ticket.objects.select_for_update().get(pk=target.pk),
        )
        if source.merged_into_id is not None:
            raise Invalid(f"#{source.number} is already merged", field="source")
        record = TicketMerge.objects.create(
            kind=TicketMerge.Kind.MERGE,
            source=source,
            target=target,
            messages=list(source.messages.values_list("pk", flat=True)),
            notes=list(source.notes.values_list("pk", flat=True)),
            outbox_items=list(source.outbox_items.values_list("pk", flat=True)),
            previous_status=source.status,
            by_id=actor.user_id,
        )
        _move([source.pk], record.messages, record.notes, record.outbox_items, target)
        target.participants = _participants(target, source)
        target.reply_references = [
            *target.reply_references,
            *[r for r in source.reply_references if r not in target.reply_references],
        ]
        target.save(update_fields=["participants", "reply_references", "updated_at"])
        source.set_status(Ticket.Status.CLOSED, now)
        source.merged_into = target
        source.save(
            update_fields=["status", "status_changed_at", "closed_at", "merged_into", "updated_at"]
        )
        _activity(
            target,
            actor,
            f"{actor.name} merged #{source.number} ({source.title}) into this ticket.",
        )
        _activity(source, actor, f"{actor.name} merged this ticket into #{target.number}.")
        _updated(actor, source, merged_into=target.number)
        _updated(actor, target, merged_from=source.number)
    return record


def split(actor: Actor, message: Message) -> TicketMerge:
    """A new ticket from this message and every later one of its ticket."""
    if message.ticket is None:
        raise NotFound(f"no message {message.pk}")
    access.require_act_on(actor, message.ticket)
    now = timezone.now()
    with transaction.atomic():
        source = Ticket.objects.select_for_update().get(pk=message.ticket.pk)
        later = source.messages.filter(
            Q(received_at__gt=message.received_at)
            | Q(received_at=message.received_at, pk__gte=message.pk)
        )
        moving = list(later.order_by("received_at", "id"))
        if len(moving) == source.messages.count():
            raise Invalid(
                "that is the ticket's first message: nothing would be left", field="message"
            )
        first = moving[0]
        target = Ticket.objects.create(
            number=Counter.next("ticket"),
            mailbox=source.mailbox,
            title=first.subject or source.title,
            status=Ticket.Status.OPEN,
            priority=source.priority,
            queue=source.queue,
            type=source.type,
            contact=source.contact,
            participants=list(source.participants),
            reply_to=first.from_address
            if first.direction == Message.Direction.IN
            else source.reply_to,
            reply_references=[m.message_id for m in moving],
            first_mail_at=first.date or first.received_at,
            linked_from=source,
            link_reason=f"split from #{source.number}",
        )
        outbox = list(
            OutboxItem.objects.filter(ticket=source, outgoing__in=moving).values_list(
                "pk", flat=True
            )
        )
        record = TicketMerge.objects.create(
            kind=TicketMerge.Kind.SPLIT,
            source=source,
            target=target,
            messages=[m.pk for m in moving],
            outbox_items=outbox,
            previous_status=source.status,
            by_id=actor.user_id,
        )
        _move([source.pk], record.messages, [], outbox, target)
        Ticket.objects.filter(pk=source.pk).update(updated_at=now)
        _activity(
            source, actor, f"{actor.name} split {len(moving)} message(s) off into #{target.number}."
        )
        _activity(target, actor, f"{actor.name} split this ticket off #{source.number}.")
        emit(
            Event.Kind.TICKET_CREATED,
            mailbox_id=target.mailbox_id,
            ticket=target,
            split_from=source.number,
        )
        _updated(actor, source, split_into=target.number)
    return record


def undo(actor: Actor, record: TicketMerge) -> None:
    """Put back exactly what the merge or split moved; later arrivals stay where they are."""
    access.require_act_on(actor, record.source)
    access.require_act_on(actor, record.target)
    if record.undone_at is not None:
        raise Invalid("this was undone already", field="merge")
    now = timezone.now()
    with transaction.atomic():
        source = Ticket.objects.select_for_update().get(pk=record.source_id)
        target = Ticket.objects.select_for_update().get(pk=record.target_id)
        _move([target.pk], record.messages, record.notes, record.outbox_items, source)
        if record.kind == TicketMerge.Kind.MERGE:
            source.merged_into = None
            source.set_status(record.previous_status or Ticket.Status.OPEN, now)
            source.save(
                update_fields=[
                    "merged_into",
                    "status",
                    "status_changed_at",
                    "resolved_at",
                    "closed_at",
                    "updated_at",
                ]
            )
            _activity(source, actor, f"{actor.name} undid the merge into #{target.number}.")
            _activity(target, actor, f"{actor.name} undid the merge of #{source.number}.")
        else:
            if not target.messages.exists():
                target.set_status(Ticket.Status.CLOSED, now)
                target.merged_into = source
                target.save(
                    update_fields=[
                        "status",
                        "status_changed_at",
                        "closed_at",
                        "merged_into",
                        "updated_at",
                    ]
                )
            _activity(source, actor, f"{actor.name} undid the split into #{target.number}.")
            _activity(
                target,
                actor,
                f"{actor.name} undid the split: the messages went back to #{source.number}.",
            )
            Ticket.objects.filter(pk=source.pk).update(updated_at=now)
        record.undone_at, record.undone_by_id = now, actor.user_id
        record.save(update_fields=["undone_at", "undone_by"])
        _updated(actor, source, undone=record.kind)
        _updated(actor, target, undone=record.kind)


def history(actor: Actor, ticket: Ticket) -> list[TicketMerge]:
    """The merges and splits this ticket took part in, newest first."""
    access.ticket(actor, ticket.number)
    return list(
        TicketMerge.objects.filter(Q(source=ticket) | Q(target=ticket))
        .select_related("source", "target")
        .order_by("-created_at", "-id")
    )


def record(actor: Actor, pk: int) -> TicketMerge:
    found = (
        TicketMerge.objects.filter(
            pk=pk, source__in=access.tickets(actor), target__in=access.tickets(actor)
        )
        .select_related("source", "target")
        .first()
    )
    if found is None:
        raise NotFound(f"no merge {pk}")
    return found
