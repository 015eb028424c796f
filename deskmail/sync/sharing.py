"""How many mailboxes each worker should hold, so that every live worker carries its share.

Each worker writes a beat every tick (its name and capacity) and reads the beats of
the others. From the same rows every worker computes the same division: the
mailboxes are split evenly, except that a worker never gets more than its
capacity, and what a small worker cannot take is split among the rest. A worker
holding more than its share hands the excess back (its runners stop, the leases are
released) and the others claim it at their next tick; a worker that joins therefore
takes its share without the others restarting, and one that dies stops counting
when its beat is a lease old, which is when its leases run out. The first worker to
notice also frees the inbox lanes the dead one's engine held, so the mail it had
fetched is processed now, not when the lane's own term ends.
"""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone

from deskmail.ingest.inbox import release_lanes
from deskmail.sync import leases
from deskmail.sync.models import WorkerBeat


def beat(owner: str, capacity: int) -> list[int]:
    """Say that `owner` is alive; returns the capacities of every live worker, its own included."""
    now = timezone.now()
    updated = WorkerBeat.objects.filter(owner=owner).update(seen_at=now, capacity=capacity)
    if not updated:
        WorkerBeat.objects.create(owner=owner, capacity=capacity, started_at=now, seen_at=now)
    live_since = now - dt.timedelta(seconds=leases.LEASE_SECONDS)
    dead = list(WorkerBeat.objects.filter(seen_at__lt=live_since).values_list("owner", flat=True))
    if dead:
        release_lanes(dead)
        WorkerBeat.objects.filter(owner__in=dead, seen_at__lt=live_since).delete()
    return list(
        WorkerBeat.objects.filter(seen_at__gte=live_since).values_list("capacity", flat=True)
    )


def leave(owner: str) -> None:
    """A worker stopping in order: the others count without it from their next tick."""
    WorkerBeat.objects.filter(owner=owner).delete()


def fair_share(total: int, capacities: list[int], mine: int) -> int:
    """How many of `total` mailboxes a worker of capacity `mine` should hold.

    Water filling: workers too small for an even share hold their capacity, the
    rest split what is left evenly (rounded up, so that together they cover it).
    """
    remaining = total
    ordered = sorted(capacities)
    for index, capacity in enumerate(ordered):
        even = math.ceil(remaining / (len(ordered) - index))
        if capacity >= even:
            return min(mine, even)
        remaining -= capacity
    return mine  # every worker is full
