"""A bounded number of holders at once, with waiters that give up when asked to stop.

The worker's runner threads take slots for the database (`dbslots`) and for logging in
to a mail server (`logins`); a runner asked to stop must not first wait its turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# How often a thread waiting for a slot looks whether it was asked to stop.
STOP_CHECK_S = 1.0


def never() -> bool:
    return False


class Slots:
    def __init__(self, size: int) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    @contextmanager
    def take(
        self, stop: Callable[[], bool] = never, on_wait: Callable[[], None] | None = None
    ) -> Iterator[bool]:
        """Hold a slot inside this block; yields False, holding none, if `stop()` turns true.

        `on_wait` is called once when no slot is free at first: the caller says why
        it waits.
        """
        if not self._free.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            while not self._free.acquire(timeout=STOP_CHECK_S):
                if stop():
                    yield False
                    return
        try:
            yield True
        finally:
            self._free.release()
