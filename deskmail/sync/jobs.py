"""Periodic jobs the worker runs beside the mailbox runners."""

from __future__ import annotations

import time
from collections.abc import Callable

from deskmail.events.log import prune
from deskmail.ingest.quarantine import retry_due
from deskmail.outbound.send import send_due
from deskmail.webhooks.send import deliver_due


def every(seconds: float, job: Callable[[], object]) -> Callable[[], object]:
    """The job, run at most once per `seconds` however often it is called."""
    last = -float("inf")

    def throttled() -> object:
        nonlocal last
        if time.monotonic() - last < seconds:
            return None
        last = time.monotonic()
        return job()

    throttled.__name__ = getattr(job, "__name__", "job")
    return throttled


def periodic_jobs() -> list[Callable[[], object]]:
    """Quarantined mail whose retry is due, the outbox, webhook deliveries; old events hourly."""
    return [retry_due, send_due, deliver_due, every(3600, prune)]
