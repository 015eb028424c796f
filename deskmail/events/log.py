"""Writing to the event log, and reading it after a cursor.

    emit(Event.Kind.NOTE_CREATED, mailbox_id=ticket.mailbox_id, ticket=ticket, note=note.pk)

`emit` must run inside the transaction of the change it reports: the event
commits with it or not at all. On PostgreSQL it also sends a NOTIFY on the
`deskmail_events` channel, which PostgreSQL delivers at commit, so a listener
wakes at once; elsewhere readers poll.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from deskmail.events.models import Event
from deskmail.tickets.models import Ticket

CHANNEL = "deskmail_events"
# How long the log keeps events; readers further behind start again from now.
KEEP = dt.timedelta(days=14)


def emit(
    kind: str,
    *,
    mailbox_id: int | None,
    ticket: Ticket | None = None,
    **data: Any,
) -> Event:
    """Record that something happened (in the caller's transaction)."""
    event = Event.objects.create(
        kind=kind,
        mailbox_id=mailbox_id,
        ticket_id=ticket.pk if ticket is not None else None,
        ticket_number=ticket.number if ticket is not None else None,
        data=data,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(event.pk)])
    return event


# Events of the whole installation that everyone is shown, whatever their mailboxes.
FOR_EVERYONE = (Event.Kind.CHANNEL_SWITCHED,)


def after(
    cursor: int, *, mailbox_ids: Iterable[int] | None = None, limit: int = 200
) -> list[Event]:
    """Events after the cursor (an event id), oldest first; only these mailboxes' (and those
    FOR_EVERYONE) when given."""
    query = Event.objects.filter(id__gt=cursor)
    if mailbox_ids is not None:
        query = query.filter(
            Q(mailbox_id__in=sorted(mailbox_ids))
            | Q(mailbox_id__isnull=True, kind__in=FOR_EVERYONE)
        )
    return list(query.order_by("id")[:limit])


def latest() -> int:
    """The cursor of "now": readers that start here see only what happens next."""
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return int(newest or 0)


def prune(now: dt.datetime | None = None) -> int:
    """Forget events older than KEEP; how many were removed."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).delete()
    return deleted
