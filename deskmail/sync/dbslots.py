"""At most a few of a worker's mailbox threads use the database at once.

A worker runs one thread per mailbox, and each would otherwise open its own
database connection: a thousand mailboxes starting together ask PostgreSQL for a
thousand connections (its default allows 100). A thread takes a slot for the
database work of one sync pass and closes its connection when it gives the slot
back; the waits between passes (IDLE, polling) hold neither. A worker therefore
uses at most `SLOTS` connections for its mailboxes, plus one each for the
supervisor, the periodic jobs and the inbox processor.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connections

SLOTS = int(os.environ.get("DESKMAIL_WORKER_DB_CONNECTIONS") or 8)
_slots = threading.BoundedSemaphore(SLOTS)


# How often a thread waiting for a slot looks whether it was asked to stop.
STOP_CHECK_S = 1.0


@contextmanager
def database_slot(stop: Callable[[], bool] = lambda: False) -> Iterator[bool]:
    """Use the database inside this block only; the thread's connection closes at its end.

    Yields False, without a slot, when `stop()` turns true while waiting: a runner
    asked to stop must not wait for the database first.
    """
    while not _slots.acquire(timeout=STOP_CHECK_S):
        if stop():
            yield False
            return
    try:
        yield True
    finally:
        connections.close_all()
        _slots.release()
