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
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connections

from deskmail.sync.slots import Slots, never

SLOTS = int(os.environ.get("DESKMAIL_WORKER_DB_CONNECTIONS") or 8)
_slots = Slots(SLOTS)


@contextmanager
def database_slot(stop: Callable[[], bool] = never) -> Iterator[bool]:
    """Use the database inside this block only; the thread's connection closes at its end.

    Yields False, without a slot, when `stop()` turns true while waiting: a runner
    asked to stop must not wait for the database first.
    """
    with _slots.take(stop) as slot:
        try:
            yield slot
        finally:
            if slot:
                connections.close_all()
