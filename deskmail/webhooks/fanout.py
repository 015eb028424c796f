"""Turn the event log into deliveries: one row per (endpoint, event), none lost, none twice.

One reader, under a row lock on `FanoutState`, reads the log after its
position and writes a delivery for each endpoint that wants the event; the
unique (endpoint, event) pair makes a repeated pass harmless.

The one subtle case is a gap. Event ids come from a sequence and are handed
out when a transaction writes its event, not when it commits, so on PostgreSQL
event 12 may be visible while event 11's transaction still runs. Stepping past
11 would lose it for good. So at a gap the reader stops, and notes the gap and
a snapshot of the transactions running just after it read (`pg_current_snapshot()`);
11's transaction, if it is still running, is one of them. Once every one of
them has ended, 11 has either committed (and the next read sees it) or rolled
back (and never will exist): then, and only then, the gap is stepped over.
This relies on a transaction writing its change before its event (every
`emit` caller does), so it holds a transaction id before it takes an event id.

On SQLite there is one writer at a time and an id is not taken until that
writer has the lock, so what is visible is always a prefix: a gap is final.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deskmail.events import log
from deskmail.events.models import Event
from deskmail.mailboxes.models import Mailbox
from deskmail.webhooks.models import Delivery, Endpoint, FanoutState

BATCH = 500
# Batches one pass takes at most, so that one call stays short behind a long backlog.
MAX_BATCHES = 20


def order_key(event: Event) -> str:
    """Deliveries with one key go out in event order: a ticket's, or a mailbox's."""
    if event.ticket_id is not None:
        return f"ticket:{event.ticket_id}"
    if event.mailbox_id is not None:
        return f"mailbox:{event.mailbox_id}"
    return ""


def body(event: Event, mailbox_names: dict[int, str]) -> dict[str, Any]:
    """What a receiver gets for an event (the delivery id travels in a header)."""
    mailbox = None
    if event.mailbox_id is not None:
        mailbox = {"id": event.mailbox_id, "name": mailbox_names.get(event.mailbox_id)}
    ticket = None
    if event.ticket_id is not None:
        ticket = {"id": event.ticket_id, "number": event.ticket_number}
    return {
        "event": event.kind,
        "event_id": event.pk,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "mailbox": mailbox,
        "ticket": ticket,
        "data": event.data,
    }


def _wants(endpoint: Endpoint, mailbox_ids: set[int], event: Event) -> bool:
    if event.pk <= endpoint.after_event:
        return False
    if endpoint.events and event.kind not in endpoint.events:
        return False
    return not mailbox_ids or event.mailbox_id in mailbox_ids


def _snapshot() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        row = cursor.fetchone()
    return str(row[0]) if row else ""


# Transactions running at the snapshot that still run, other than ours and other than
# those pg_stat_activity places in another database (they cannot write our events).
# xid8 -> xid: the low 32 bits, which is what pg_stat_activity shows.
_STILL_RUNNING = """
SELECT EXISTS (
    SELECT 1 FROM pg_snapshot_xip(%s::pg_snapshot) AS running(xid)
    WHERE running.xid IS DISTINCT FROM pg_current_xact_id_if_assigned()
    AND pg_xact_status(running.xid) = 'in progress'
    AND NOT EXISTS (
        SELECT 1 FROM pg_stat_activity AS other
        WHERE other.datname IS DISTINCT FROM current_database()
        AND other.backend_xid::text = (running.xid::text::numeric %% 4294967296)::text
    )
)
"""


def _ended(snapshot: str) -> bool:
    """Whether every transaction that was running at `snapshot` and could hold an event
    id has ended."""
    with connection.cursor() as cursor:
        cursor.execute(_STILL_RUNNING, [snapshot])
        row = cursor.fetchone()
    return not (row and row[0])


def _state() -> FanoutState:
    """The fan-out's row, locked. A first run starts where the oldest endpoint began
    listening (or at the end of the log, when there is none yet)."""
    state = FanoutState.objects.select_for_update().filter(pk=1).first()
    if state is None:
        oldest = Endpoint.objects.order_by("after_event").values_list("after_event", flat=True)
        start = oldest.first()
        FanoutState.objects.bulk_create(
            [FanoutState(pk=1, position=log.latest() if start is None else start)],
            ignore_conflicts=True,
        )
        state = FanoutState.objects.select_for_update().get(pk=1)
    return state


def _deliveries(
    events: Iterable[Event], endpoints: list[tuple[Endpoint, set[int]]], now: dt.datetime
) -> list[Delivery]:
    events = list(events)
    names = dict(
        Mailbox.objects.filter(pk__in={e.mailbox_id for e in events if e.mailbox_id}).values_list(
            "pk", "name"
        )
    )
    rows = []
    for event in events:
        for endpoint, mailbox_ids in endpoints:
            if _wants(endpoint, mailbox_ids, event):
                rows.append(
                    Delivery(
                        endpoint=endpoint,
                        event_id=event.pk,
                        kind=event.kind,
                        order_key=order_key(event),
                        body=body(event, names),
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
    return rows


def fan_out(now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Make the deliveries for the events logged since the last pass; how many were made."""
    now = now or timezone.now()
    postgres = connection.vendor == "postgresql"
    made = 0
    with transaction.atomic():
        state = _state()
        endpoints = [
            (endpoint, {m.pk for m in endpoint.mailboxes.all()})
            for endpoint in Endpoint.objects.filter(status=Endpoint.Status.ACTIVE).prefetch_related(
                "mailboxes"
            )
        ]
        rounds = batches = 0
        # A gap noted in one round may be final by the next: at most two rounds per batch.
        while rounds < 2:
            rounds += 1
            # Asked before reading: a gap is final only if its transactions had ended
            # before the read that still does not see it.
            final_gap = None
            if postgres and state.gap_at is not None and _ended(state.gap_snapshot):
                final_gap = state.gap_at
            events = log.after(state.position, limit=batch)
            taken: list[Event] = []
            stopped = False
            for event in events:
                expected = (taken[-1].pk if taken else state.position) + 1
                if postgres and event.pk != expected and expected != final_gap:
                    # Taken after the read: whoever holds the missing id is running in it.
                    state.gap_at, state.gap_snapshot = expected, _snapshot()
                    stopped = True
                    break
                taken.append(event)
            if taken:
                rows = _deliveries(taken, endpoints, now)
                Delivery.objects.bulk_create(rows, ignore_conflicts=True)
                made += len(rows)
                state.position = taken[-1].pk
            if not stopped:
                state.gap_at, state.gap_snapshot = None, ""
                batches += 1
                if len(events) < batch or batches >= MAX_BATCHES:
                    break
                rounds = 0  # a full batch: there may be more
            elif not _ended(state.gap_snapshot):
                break
        state.save()
    return made
