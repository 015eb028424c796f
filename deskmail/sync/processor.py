"""The engine's thread in a worker: it processes the inbox as soon as mail is in it.

A runner that stored mail wakes it at once (`wake()`); mail that another
process put in the inbox (the forwarding receiver, another worker) is found
by looking again every `poll_seconds`. Several processors, in one process or
many, share the work safely: each mailbox's inbox is processed by one at a
time (`deskmail.ingest.inbox`).
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connections

from deskmail.ingest.inbox import process_pending

log = logging.getLogger(__name__)

# How long a failure (the database away, say) pauses the processor.
PAUSE_AFTER_ERROR_S = 2.0


class InboxProcessor(threading.Thread):
    def __init__(self, owner: str, *, poll_seconds: float = 0.5) -> None:
        super().__init__(name="inbox-processor", daemon=True)
        self.owner = owner
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self.processed = 0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                self._wake.clear()
                try:
                    done = process_pending(self.owner)
                except Exception:  # the database away, a bug: logged, tried again
                    log.exception("inbox processor %s: processing failed", self.owner)
                    connections.close_all()
                    self._stop_event.wait(PAUSE_AFTER_ERROR_S)
                    continue
                self.processed += len(done)
                if not done:
                    close_old_connections()
                    self._wake.wait(self.poll_seconds)
        finally:
            connections.close_all()
