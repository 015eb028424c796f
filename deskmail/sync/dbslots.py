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
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

SLOTS = int(os.environ.get("DESKMAIL_WORKER_DB_CONNECTIONS") or 8)
_slots = threading.BoundedSemaphore(SLOTS)


@contextmanager
def database_slot() -> Iterator[None]:
    """Use the database inside this block only; the thread's connection closes at its end."""
    with _slots:
        try:
            yield
        finally:
            connections.close_all()
