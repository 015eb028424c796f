"""Reading the channel switch: is the email channel on?

    watch = ChannelWatch()          # one per process part that asks often
    if not watch.is_on(): ...       # a query at most every `seconds`, not per message

The switch itself is changed by `deskmail.services.channel.switch`, which also
sends a NOTIFY on NOTIFY_CHANNEL (PostgreSQL delivers it at commit): a process
that listens (`listen`) calls `ChannelWatch.changed()` and sees the new state at
once; elsewhere the next read after `seconds` does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import connections

from deskmail.core.listening import connection_kwargs
from deskmail.core.models import ChannelSwitch

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "deskmail_channel"
# How stale a process's idea of the switch may be where nothing tells it of a change.
READ_EVERY_S = 2.0


def current() -> ChannelSwitch:
    """The switch as stored (an unsaved "on" when it was never switched)."""
    found = ChannelSwitch.objects.select_related("changed_by").filter(pk=ChannelSwitch.ROW).first()
    return found if found is not None else ChannelSwitch(pk=ChannelSwitch.ROW, on=True)


def is_on() -> bool:
    """One query: whether the channel is on now."""
    value = ChannelSwitch.objects.filter(pk=ChannelSwitch.ROW).values_list("on", flat=True).first()
    return value is None or bool(value)


class ChannelWatch:
    """The switch as this process last read it; read again after `seconds`, or after
    `changed()`. Safe to share between threads."""

    def __init__(self, seconds: float = READ_EVERY_S) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._on = True
        self._read_at = -float("inf")
        self._listeners: list[Callable[[], None]] = []

    def is_on(self) -> bool:
        with self._lock:
            if time.monotonic() - self._read_at < self.seconds:
                return self._on
        on = is_on()
        with self._lock:
            self._on, self._read_at = on, time.monotonic()
        return on

    def changed(self) -> None:
        """The switch changed: the next `is_on()` reads it again; subscribers are told."""
        with self._lock:
            self._read_at = -float("inf")
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (e.g. an Event's set) whenever a change is heard of."""
        with self._lock:
            self._listeners.append(listener)


class SwitchListener(threading.Thread):
    """On PostgreSQL: LISTENs on NOTIFY_CHANNEL and tells the watch at once. Elsewhere it
    ends at once (the watch's periodic read is all there is)."""

    def __init__(self, watch: ChannelWatch) -> None:
        super().__init__(name="channel-listener", daemon=True)
        self.watch = watch
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        if connections["default"].vendor != "postgresql":
            return
        while not self._stop_event.is_set():
            try:
                self._listen()
            except Exception:  # noqa: BLE001 - the periodic read covers the gap
                log.warning("channel switch: listening failed; trying again", exc_info=True)
                self.watch.changed()
                self._stop_event.wait(READ_EVERY_S)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(**connection_kwargs()) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # Anything switched before the LISTEN began is read afresh.
            self.watch.changed()
            while not self._stop_event.is_set():
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    self.watch.changed()
