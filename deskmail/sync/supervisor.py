"""The worker's supervisor: which mailboxes this process syncs, and the periodic jobs.

Every few seconds it reads the mailboxes that should be synced, renews the
leases it holds, claims free or expired ones, starts a runner thread per
claimed mailbox and stops runners whose mailbox was switched off, changed
(config changes apply without a restart) or whose lease was lost. Between
ticks it runs the periodic jobs (quarantine retries, the outbox).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from django.db import close_old_connections, connections

from deskmail.connectors import registry
from deskmail.mailboxes.models import Mailbox
from deskmail.sync import leases

log = logging.getLogger(__name__)

RUNNABLE_STATUSES = (Mailbox.Status.ACTIVE, Mailbox.Status.FAILED)


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
class Supervisor:
    runner_factory: RunnerFactory
    owner: str = field(default_factory=lambda: worker_name())
    capacity: int = 1000
    tick_seconds: float = 2.0
    periodic_jobs: list[Callable[[], object]] = field(default_factory=list)
    running: dict[int, _Running] = field(default_factory=dict)

    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.owner)
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
                stop.wait(self.tick_seconds)
        finally:
            self.shutdown()
            jobs.join(timeout=30)

    def _jobs_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.run_periodic_jobs()
            close_old_connections()
            stop.wait(self.tick_seconds)
        connections.close_all()

    def tick(self) -> None:
        wanted = self._wanted_mailboxes()
        held = leases.renew(list(self.running), self.owner) if self.running else set()
        for mailbox_id in list(self.running):
            entry = self.running[mailbox_id]
            if mailbox_id not in wanted:
                self._stop(mailbox_id, "switched off or removed")
            elif mailbox_id not in held:
                self._stop(mailbox_id, "lease lost to another worker")
            elif wanted[mailbox_id] != entry.version:
                self._stop(mailbox_id, "configuration changed")
            elif not entry.runner.is_alive():
                self._stop(mailbox_id, "runner ended")
        free = [mailbox_id for mailbox_id in wanted if mailbox_id not in self.running]
        room = self.capacity - len(self.running)
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
        stopped = list(self.running)
        for mailbox_id in stopped:
            self._stop(mailbox_id, "worker stopping", release=False)
        if stopped:
            leases.release(stopped, self.owner)
        log.info("worker %s stopped", self.owner)

    def _stop(self, mailbox_id: int, why: str, *, release: bool = True) -> None:
        entry = self.running.pop(mailbox_id)
        entry.runner.stop()
        entry.runner.join(timeout=10)
        log.info("mailbox %s: stopped (%s)", mailbox_id, why)
        if release:
            leases.release([mailbox_id], self.owner)

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
