"""The loop that keeps one mailbox in sync, in its own thread.

connect → sync pass → wait for new mail (IDLE, or sleep `poll_seconds`) → sync
pass → ... A failure is recorded with the server's own words; after
`max_tries` consecutive failures the mailbox is marked failed and retried only
every `cool_off_minutes`; between tries the wait grows exponentially with
jitter. Nothing is attempted inside `skip_times`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from functools import partial

from django.db import connections
from django.utils import timezone

from deskmail.connectors.base import InboundSession
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.settings import InboundConfig
from deskmail.mailboxes.connections import inbound_session
from deskmail.mailboxes.models import Mailbox
from deskmail.sync import health
from deskmail.sync.dbslots import database_slot
from deskmail.sync.driver import sync_pass
from deskmail.sync.logins import login_slot, session_slot
from deskmail.sync.schedule import backoff_seconds, seconds_until_window_ends

log = logging.getLogger(__name__)

# RFC 2177: servers may drop an IDLE after 30 minutes; re-issue well before.
IDLE_REISSUE_SECONDS = 25 * 60

SessionFactory = Callable[[Mailbox], InboundSession]


class MailboxRunner(threading.Thread):
    def __init__(
        self,
        mailbox_id: int,
        owner: str,
        session_factory: SessionFactory = inbound_session,
        *,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=f"mailbox-{mailbox_id}", daemon=True)
        self.mailbox_id = mailbox_id
        self.owner = owner
        self.session_factory = session_factory
        # Called when mail went into the inbox: wakes the engine.
        self.on_accepted = on_accepted
        self._stop_event = threading.Event()
        self._next_attempt: dt.datetime | None = None
        self.passes = 0

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # never let a bug kill the thread silently
            log.exception("mailbox %s: runner crashed", self.mailbox_id)
        finally:
            connections.close_all()

    def _loop(self) -> None:
        while not self.stopping:
            with database_slot(lambda: self.stopping) as slot:
                if not slot:
                    return
                mailbox = Mailbox.objects.get(pk=self.mailbox_id)
            wait = self._seconds_to_wait(mailbox)
            if wait > 0:
                self._stop_event.wait(wait)
                continue
            try:
                self._session(mailbox)
            except ConnectorError as exc:
                if exc.retry_after is not None and not exc.permanent:
                    self._throttled(mailbox, exc.message, exc.retry_after)
                else:
                    self._failed(mailbox, exc.message, exc.server_reply, at_once=exc.reauthorize)
            except Exception as exc:  # a database outage, a bug: recorded, retried
                log.exception("mailbox %s: sync failed", mailbox.name)
                self._failed(mailbox, f"{type(exc).__name__}: {exc}", None)

    def _seconds_to_wait(self, mailbox: Mailbox) -> float:
        inbound = mailbox.settings.inbound
        assert inbound is not None
        now = timezone.now()
        skip = seconds_until_window_ends(now, inbound.skip_times)
        if skip:
            return skip
        if (
            self._next_attempt is None
            and mailbox.consecutive_failures
            and mailbox.last_error_at
            and mailbox.updated_at <= mailbox.last_error_at
        ):
            # A worker (re)starting on a mailbox that was failing respects its pause,
            # unless its settings changed since (or a retry was asked for): then at once.
            self._next_attempt = mailbox.last_error_at + dt.timedelta(
                seconds=self._pause(mailbox, inbound.cool_off_minutes)
            )
        if self._next_attempt is not None:
            return max(0.0, (self._next_attempt - now).total_seconds())
        return 0.0

    @staticmethod
    def _pause(mailbox: Mailbox, cool_off_minutes: float) -> float:
        if mailbox.status == Mailbox.Status.FAILED:
            return cool_off_minutes * 60
        return backoff_seconds(mailbox.consecutive_failures)

    def _session(self, mailbox: Mailbox) -> None:
        """One connection: sync, wait for changes, sync again, until stopped or reconfigured.

        It holds a slot of its account's sessions (the server's cap) while it is open.
        """
        inbound = mailbox.settings.inbound
        assert inbound is not None
        waited: list[str] = []
        waiting = partial(self._waiting, mailbox, waited)
        with session_slot(inbound, lambda: self.stopping, waiting) as slot:
            if not slot:
                return
            if waited:
                with database_slot():
                    health.clear_waiting(mailbox, waited[0])
            self._connected(mailbox, inbound)

    def _connected(self, mailbox: Mailbox, inbound: InboundConfig) -> None:
        try:
            session = self.session_factory(mailbox)
            with login_slot(inbound, lambda: self.stopping) as slot:
                if not slot:
                    return
                session.open()
        finally:
            # A token source may have used the database here, outside a slot.
            connections.close_all()
        try:
            while not self.stopping:
                with database_slot(lambda: self.stopping) as slot:  # none held while idle
                    if not slot:
                        return
                    report = sync_pass(
                        mailbox, session, stop=lambda: self.stopping, on_accepted=self.on_accepted
                    )
                    self.passes += 1
                    self._next_attempt = None
                    health.record_success(mailbox, report)
                    mailbox.refresh_from_db()
                if seconds_until_window_ends(timezone.now(), inbound.skip_times):
                    return
                self._wait_for_mail(session, inbound.idle, inbound.poll_seconds)
        finally:
            session.close()

    def _waiting(self, mailbox: Mailbox, waited: list[str], reason: str) -> None:
        """Over its account's session cap: said in the status, not a failed try."""
        waited.append(reason)
        with database_slot():
            health.record_waiting(mailbox, reason)

    def _wait_for_mail(self, session: InboundSession, idle: bool, poll_seconds: float) -> None:
        if idle and session.can_wait():
            session.wait_for_new_mail(IDLE_REISSUE_SECONDS, stop=lambda: self.stopping)
        else:
            self._stop_event.wait(poll_seconds)

    def _throttled(self, mailbox: Mailbox, message: str, retry_after: float) -> None:
        """The server said when to come back: wait that long, without counting a failure."""
        if self.stopping:
            return
        with database_slot():
            health.record_throttled(mailbox, message)
        self._next_attempt = timezone.now() + dt.timedelta(seconds=max(retry_after, 1.0))

    def _failed(
        self, mailbox: Mailbox, message: str, server_reply: str | None, *, at_once: bool = False
    ) -> None:
        if self.stopping:
            return
        with database_slot():
            health.record_failure(mailbox, message, server_reply, at_once=at_once)
            mailbox.refresh_from_db()
        inbound = mailbox.settings.inbound
        assert inbound is not None
        self._next_attempt = timezone.now() + dt.timedelta(
            seconds=self._pause(mailbox, inbound.cool_off_minutes)
        )
