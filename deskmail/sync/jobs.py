"""Periodic jobs the worker runs between supervisor ticks."""

from __future__ import annotations

from collections.abc import Callable

from deskmail.ingest.quarantine import retry_due


def periodic_jobs() -> list[Callable[[], object]]:
    """Quarantined mail whose retry is due; the outbox."""
    return [retry_due]
