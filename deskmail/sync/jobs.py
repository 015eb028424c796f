"""Periodic jobs the worker runs beside the mailbox runners."""

from __future__ import annotations

from collections.abc import Callable

from deskmail.ingest.quarantine import retry_due
from deskmail.outbound.send import send_due


def periodic_jobs() -> list[Callable[[], object]]:
    """Quarantined mail whose retry is due, then the outbox."""
    return [retry_due, send_due]
