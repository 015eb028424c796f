"""Periodic jobs the worker runs between supervisor ticks."""

from __future__ import annotations

from collections.abc import Callable


def periodic_jobs() -> list[Callable[[], object]]:
    jobs: list[Callable[[], object]] = []
    try:
        from deskmail.ingest.quarantine import retry_due
    except ImportError:
        pass
    else:
        jobs.append(retry_due)
    return jobs
