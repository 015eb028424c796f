"""Read and unread, per person: a ticket is unread for someone when mail arrived after
they last opened it (or they never did), or when they marked it unread."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.tickets.models import Message, ReadMark, Ticket


def unread_q(actor: Actor) -> Q:
    """Tickets with incoming mail the actor has not read yet."""
    user_id = actor.user_id or 0  # the system reads nothing: everything is unread for it
    read_at = ReadMark.objects.filter(ticket=OuterRef(OuterRef("pk")), user_id=user_id)
    newer = Message.objects.filter(
        ticket=OuterRef("pk"), direction=Message.Direction.IN, excluded=False
    )
    never_read = ~Exists(ReadMark.objects.filter(ticket=OuterRef("pk"), user_id=user_id))
    return Q(Exists(newer)) & (
        never_read
        | Q(Exists(newer.filter(received_at__gt=Subquery(read_at.values("read_at")[:1]))))
    )


def mark_read(actor: Actor, ticket: Ticket) -> None:
    """The actor has seen everything on the ticket up to now."""
    if actor.user_id is None:
        return
    access.ticket(actor, ticket.number)
    ReadMark.objects.update_or_create(
        ticket=ticket, user_id=actor.user_id, defaults={"read_at": timezone.now()}
    )


def mark_unread(actor: Actor, ticket: Ticket) -> None:
    """Unread again for the actor only (its latest mail counts as new)."""
    access.ticket(actor, ticket.number)
    if actor.user_id is not None:
        ReadMark.objects.filter(ticket=ticket, user_id=actor.user_id).delete()


def unread_for_everyone(ticket: Ticket) -> None:
    """Unread for the whole team (a transfer that came back)."""
    ReadMark.objects.filter(ticket=ticket).delete()
