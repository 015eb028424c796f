"""The worker's supervisor: which mailboxes this process syncs, and the periodic jobs.

Every few seconds it reads the mailboxes that should be synced, renews the
leases it holds, claims free or expired ones up to its share (`sharing`: the
live workers split the mailboxes evenly), starts a runner thread per claimed
mailbox and stops runners whose mailbox was switched off, changed (config
changes apply without a restart) or whose lease was lost. A worker holding more
than its share, because another one joined, hands the excess over. Between
ticks it runs the periodic jobs (quarantine retries, the outbox).

While the channel is switched off (`deskmail channel off`) it stops every runner
(each closes its connection; nothing counts as a failure), keeps the leases,
marked paused, and claims nothing; on again, it starts the runners, which resume
from their stored cursors. A change is seen at the next tick, or at once where the
switch is heard of (PostgreSQL's NOTIFY, see `deskmail.core.channel`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from django.db import close_old_connections, connections

from deskmail.connectors import registry
from deskmail.core.channel import ChannelWatch
from deskmail.mailboxes.models import Mailbox
from deskmail.sync import leases, sharing

log = logging.getLogger(__name__)

RUNNABLE_STATUSES = (Mailbox.Status.ACTIVE, Mailbox.Status.FAILED)
# How often a wait between ticks looks whether it should end early.
STOP_CHECK_S = 0.25
# How long one tick waits for runners to stop when the channel goes off, and
# shutdown for all of them together.
PAUSE_WAIT_S = 10.0
# A runner that has not ended this long after it was asked to stop (stuck in a
# network read) gives its lease up anyway, so its mailbox is not orphaned.
LEAVE_LIMIT_S = 60.0


def worker_name() -> str:
    """Unique per process, readable in `mailboxes status`: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Runner(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...


RunnerFactory = Callable[[int, str], Runner]


@dataclass
class _Running:
    runner: Runner
    version: str  # the mailbox's updated_at when the runner started


@dataclass
class _Leaving:
    runner: Runner
    since: float  # monotonic time of the stop request


@dataclass
class Supervisor:
    runner_factory: RunnerFactory
    owner: str = field(default_factory=lambda: worker_name())
    capacity: int = 1000
    tick_seconds: float = 2.0
    periodic_jobs: list[Callable[[], object]] = field(default_factory=list)
    running: dict[int, _Running] = field(default_factory=dict)
    channel: ChannelWatch = field(default_factory=ChannelWatch)
    # Mailboxes whose lease is held while the channel is off (no runner).
    paused: set[int] = field(default_factory=set)
    # Set to make the loops look again now (the switch changed).
    wake: threading.Event = field(default_factory=threading.Event)
    # Whether the channel was on at the last tick (None before the first).
    channel_on: bool | None = None
    # Runners asked to stop (handed over, switched off, reconfigured, lease lost);
    # each lease is released once its runner has ended, never before. The tick
    # never waits for them, so the renewals of every other lease stay on time.
    leaving: dict[int, _Leaving] = field(default_factory=dict)

    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.owner)
        self.channel.subscribe(self.wake.set)
        # The jobs (sending mail, retries) run in their own thread, so a slow SMTP
        # server can never delay the lease renewals below.
        jobs = threading.Thread(target=self._jobs_loop, args=(stop,), name="jobs", daemon=True)
        jobs.start()
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # e.g. the database briefly unreachable: try again
                    log.exception("worker %s: supervisor tick failed", self.owner)
                    connections.close_all()
                close_old_connections()
                self._pause_between_ticks(stop)
        finally:
            self.shutdown()
            jobs.join(timeout=30)

    def _pause_between_ticks(self, stop: threading.Event) -> None:
        """Wait a tick, or less when the switch changed (or stop was asked for)."""
        deadline = time.monotonic() + self.tick_seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.wake.wait(min(left, STOP_CHECK_S)):
                self.wake.clear()
                return

    def _jobs_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.run_periodic_jobs()
            close_old_connections()
            stop.wait(self.tick_seconds)
        connections.close_all()

    def tick(self) -> None:
        on = self.channel.is_on()
        if on != self.channel_on:
            log.info("worker %s: the channel is %s", self.owner, "on" if on else "off")
            self.channel_on = on
        capacities = sharing.beat(self.owner, self.capacity)
        wanted = self._wanted_mailboxes()
        ours = [*self.running, *self.paused, *self.leaving]
        held = leases.renew(ours, self.owner) if ours else set()
        for mailbox_id in list(self.paused):
            if mailbox_id not in wanted or mailbox_id not in held:
                self.paused.discard(mailbox_id)
                leases.release([mailbox_id], self.owner)
        for mailbox_id in list(self.running):
            entry = self.running[mailbox_id]
            if mailbox_id not in wanted:
                self._stop(mailbox_id, "switched off or removed")
            elif mailbox_id not in held:
                self._stop(mailbox_id, "lease lost to another worker")
            elif wanted[mailbox_id] != entry.version:
                self._stop(mailbox_id, "configuration changed")
            elif on and not entry.runner.is_alive():  # off: it ended as asked, paused below
                self._stop(mailbox_id, "runner ended")
        self._release_left()  # those that ended at once can be claimed again below
        if not on:
            if self.running:
                self._pause(list(self.running))
            return
        if self.paused:
            leases.resume(sorted(self.paused), self.owner)
            log.info("worker %s: resuming %d mailboxes", self.owner, len(self.paused))
            self.paused.clear()
        share = sharing.fair_share(len(wanted), capacities, self.capacity)
        if len(self.running) > share:
            self._hand_over(sorted(self.running)[share:])
        free = [m for m in wanted if m not in self.running and m not in self.leaving]
        room = share - len(self.running)
        if free and room > 0:
            for mailbox_id in leases.claim(free, self.owner, limit=room):
                runner = self.runner_factory(mailbox_id, self.owner)
                self.running[mailbox_id] = _Running(runner, wanted[mailbox_id])
                runner.start()
                log.info("mailbox %s: syncing", mailbox_id)

    def run_periodic_jobs(self) -> None:
        for job in self.periodic_jobs:
            try:
                job()
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__name__", job))

    def shutdown(self) -> None:
        """Stop every runner, then hand the leases back so another worker can start at once."""
        for mailbox_id in list(self.running):
            self._stop(mailbox_id, "worker stopping")
        deadline = time.monotonic() + PAUSE_WAIT_S
        for entry in self.leaving.values():
            entry.runner.join(timeout=max(0.0, deadline - time.monotonic()))
        stopped = [*self.leaving, *self.paused]
        self.leaving.clear()
        self.paused.clear()
        if stopped:
            leases.release(stopped, self.owner)
        sharing.leave(self.owner)
        log.info("worker %s stopped", self.owner)

    def _stop(self, mailbox_id: int, why: str) -> None:
        """Ask the runner to stop; its lease is released once it has ended (`_release_left`)."""
        entry = self.running.pop(mailbox_id)
        entry.runner.stop()
        self.leaving[mailbox_id] = _Leaving(entry.runner, time.monotonic())
        log.info("mailbox %s: stopping (%s)", mailbox_id, why)

    def _hand_over(self, mailbox_ids: list[int]) -> None:
        """Stop these runners for other workers to take."""
        for mailbox_id in mailbox_ids:
            self._stop(mailbox_id, "handed over to another worker")
        log.info("worker %s: %d mailboxes handed over", self.owner, len(mailbox_ids))
        self._release_left()

    def _release_left(self) -> None:
        """Release the leases of stopped mailboxes whose runner has ended (or is stuck)."""
        now = time.monotonic()
        ended = []
        for mailbox_id, entry in self.leaving.items():
            if entry.runner.is_alive() and now - entry.since < LEAVE_LIMIT_S:
                continue
            if entry.runner.is_alive():
                log.warning("mailbox %s: its runner does not end; lease released", mailbox_id)
            ended.append(mailbox_id)
        for mailbox_id in ended:
            del self.leaving[mailbox_id]
        if ended:
            leases.release(ended, self.owner)

    def _pause(self, mailbox_ids: list[int]) -> None:
        """The channel is off: stop the runners, keep the leases, marked paused.

        Every runner is asked to stop first, then awaited together (a thousand
        connections close in parallel, well within a lease). One still finishing
        its pass is awaited again at the next tick; a lease is marked paused only
        once its runner has ended, so "paused" means nothing is fetched.
        """
        for mailbox_id in mailbox_ids:
            self.running[mailbox_id].runner.stop()
        deadline = time.monotonic() + PAUSE_WAIT_S
        ended = []
        for mailbox_id in mailbox_ids:
            runner = self.running[mailbox_id].runner
            runner.join(timeout=max(0.0, deadline - time.monotonic()))
            if not runner.is_alive():
                ended.append(mailbox_id)
        for mailbox_id in ended:
            del self.running[mailbox_id]
        self.paused.update(ended)
        leases.pause(ended, self.owner)
        log.info("worker %s: %d mailboxes paused (the channel is off)", self.owner, len(ended))

    def _wanted_mailboxes(self) -> dict[int, str]:
        """Mailboxes that should be synced now, with a version that changes on every edit."""
        wanted = {}
        rows = Mailbox.objects.filter(status__in=RUNNABLE_STATUSES).values_list(
            "id", "updated_at", "config"
        )
        for mailbox_id, updated_at, config in rows:
            inbound = (config or {}).get("inbound") or {}
            if registry.syncs(str(inbound.get("protocol"))):
                wanted[mailbox_id] = updated_at.isoformat()
        return wanted
