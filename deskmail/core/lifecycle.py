"""Stopping a long-running command cleanly on SIGINT or SIGTERM, however many arrive.

A Python signal handler runs in the main thread between two bytecodes, even
while that thread holds a lock (inside `Event.wait()`, say); a handler that
takes the same lock (`Event.set()`) then waits for ever. So the handler here
only sets a plain attribute, and the main thread turns it into whatever the
command's threads wait on, in ordinary code.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

# How often the main thread looks whether a stop was asked for.
CHECK_S = 0.1


class StopRequest:
    """Installed as the SIGINT and SIGTERM handler; `wait()` returns once one arrived."""

    def __init__(self) -> None:
        self.requested = False
        self.signals = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True  # nothing else: no lock, no I/O
        self.signals += 1

    def install(self) -> StopRequest:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)
        return self

    @staticmethod
    def done() -> None:
        """The command has stopped: later signals change nothing (and must not turn the
        clean exit into a death by signal while the interpreter shuts down)."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def wait(self, until: threading.Event | None = None) -> None:
        """Block the main thread until a signal came (or `until` was set by someone else)."""
        while not self.requested and not (until is not None and until.is_set()):
            time.sleep(CHECK_S)
