"""A waiting ticket's sender confirmed (a reply, or the signed link), or did not in time.

    release(ticket, "ann@example.com opened the confirmation link", now)
    confirm_link(token)      # the public page: the ticket it confirmed, or Unconfirmable
    expire_unconfirmed(now)  # the worker: waiting past confirm_by -> unconfirmed

Released, the ticket opens as new: the route, triggers and acknowledge steps run
on its first mail, as they would have had it not waited, and their decisions are
added to that mail's trace. An unconfirmed ticket is kept, marked, never deleted.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from deskmail.events.models import Event
from deskmail.ingest import record
from deskmail.ingest.context import Context
from deskmail.ingest.steps import acknowledge, parse, route, triggers
from deskmail.ingest.store import LiveStore
from deskmail.ingest.tokens import read_token
from deskmail.ingest.trace import Decision, stamped
from deskmail.ingest.types import Verdict
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import InternalNote, Message, Ticket

STEP = "confirm_sender"


class Unconfirmable(Exception):
    """The link confirms nothing (forged, used, expired, or the ticket no longer waits)."""


def _first_mail(ticket: Ticket) -> Message | None:
    return (
        ticket.messages.filter(direction=Message.Direction.IN).order_by("received_at", "id").first()
    )


def _add_trace(message: Message, decisions: list[Decision], now: dt.datetime) -> None:
    message.trace = [*message.trace, *stamped(decisions, now)]
    message.save(update_fields=["trace"])


def release(ticket: Ticket, how: str, now: dt.datetime) -> list[Decision]:
    """Open a confirmed ticket as new (in the caller's transaction); the decisions taken."""
    ticket.confirmation, ticket.confirm_by, ticket.confirm_nonce = "", None, ""
    first = _first_mail(ticket)
    if first is None:  # nothing to route from: it opens as it is
        ticket.save()
        return []
    ctx = Context(
        mailbox=ticket.mailbox,
        fetched_by=ticket.mailbox,
        raw=read_raw(first.raw_sha256),
        sha256=first.raw_sha256,
        now=now,
        store=LiveStore(),
    )
    parse.run(ctx)
    ctx.ticket, ctx.new_ticket = ticket, True
    ctx.auto_reply, ctx.bounce = first.auto_submitted, first.bounce
    ctx.trace.append(Decision(STEP, Verdict.CONFIRMED, f"{how}: the ticket opens"))
    for step in (route, triggers, acknowledge):
        ctx.trace.append(step.run(ctx))
    ticket.save()
    record.routed(ctx, ticket)
    ctx.store.emit(Event.Kind.TICKET_CREATED, first)
    _add_trace(first, ctx.trace, now)
    return ctx.trace


def confirm_link(token: str, now: dt.datetime | None = None) -> Ticket:
    """Confirm the sender of the ticket the token names; Unconfirmable says why not."""
    now = now or timezone.now()
    found = read_token(token)
    if found is None:
        raise Unconfirmable("this link is not one of ours")
    number, nonce = found
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("mailbox", "contact")
            .filter(number=number)
            .first()
        )
        if ticket is None or ticket.confirmation != Ticket.Confirmation.AWAITING:
            raise Unconfirmable("this link was used already, or its message needs no confirmation")
        if ticket.confirm_nonce != nonce:
            raise Unconfirmable("this link was used already")
        if ticket.confirm_by is not None and ticket.confirm_by <= now:
            raise Unconfirmable("this link has expired")
        release(ticket, f"{ticket.reply_to or 'the sender'} opened the confirmation link", now)
    return ticket


def expire_unconfirmed(now: dt.datetime | None = None) -> list[int]:
    """Mark the tickets whose sender did not confirm in time; the numbers marked."""
    now = now or timezone.now()
    due = Ticket.objects.filter(
        confirmation=Ticket.Confirmation.AWAITING, confirm_by__lte=now
    ).values_list("pk", flat=True)
    marked = []
    for pk in list(due):
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update(of=("self",))
                .filter(pk=pk, confirmation=Ticket.Confirmation.AWAITING, confirm_by__lte=now)
                .first()
            )
            if ticket is None:
                continue  # confirmed meanwhile
            ticket.confirmation, ticket.confirm_nonce = Ticket.Confirmation.UNCONFIRMED, ""
            ticket.save(update_fields=["confirmation", "confirm_nonce", "updated_at"])
            words = (
                f"no confirmation from {ticket.reply_to or 'the sender'} by "
                f"{ticket.confirm_by:%Y-%m-%d %H:%M} UTC: kept, unconfirmed"
            )
            InternalNote.objects.create(
                ticket=ticket, kind=InternalNote.Kind.ACTIVITY, body=f"N{words[1:]}."
            )
            first = _first_mail(ticket)
            if first is not None:
                _add_trace(first, [Decision(STEP, Verdict.UNCONFIRMED, words)], now)
            marked.append(ticket.number)
    return marked
