"""What the worker writes about each mailbox, for `deskmail mailboxes status` and the console.

Health columns are written with queryset updates, which leave `updated_at`
alone: the supervisor reads `updated_at` as the configuration's version.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Min
from django.utils import timezone

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.ingest.models import InboxItem
from deskmail.mailboxes.models import Mailbox
from deskmail.sync.driver import SyncReport
from deskmail.sync.models import Lease, SyncCursor

log = logging.getLogger(__name__)


def record_success(mailbox: Mailbox, report: SyncReport | None = None) -> None:
    changes: dict[str, Any] = {"last_sync_at": timezone.now(), "consecutive_failures": 0}
    with transaction.atomic():
        if mailbox.status == Mailbox.Status.FAILED:
            changes.update(status=Mailbox.Status.ACTIVE, failed_reason="")
            log.info("mailbox %s: recovered", mailbox.name)
            emit(Event.Kind.MAILBOX_RECOVERED, mailbox_id=mailbox.pk, mailbox=mailbox.name)
        Mailbox.objects.filter(pk=mailbox.pk).update(**changes)
    if report is not None and report.fetched:
        log.info("mailbox %s: %d fetched", mailbox.name, report.fetched)


def record_failure(
    mailbox: Mailbox, message: str, server_reply: str | None, *, at_once: bool = False
) -> None:
    """Count a failure; the `max_tries`-th in a row marks the mailbox failed.

    `at_once` marks it failed now: trying again cannot help (an OAuth2 grant the
    provider refused for good waits for a person to sign in again).
    """
    text = message if not server_reply or server_reply in message else f"{message} ({server_reply})"
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        consecutive_failures=F("consecutive_failures") + 1, last_error=text, last_error_at=now
    )
    mailbox.refresh_from_db(fields=["consecutive_failures", "status"])
    inbound = mailbox.settings.inbound
    max_tries = inbound.max_tries if inbound else 3
    log.warning(
        "mailbox %s: attempt failed (%d in a row): %s",
        mailbox.name,
        mailbox.consecutive_failures,
        text,
    )
    if mailbox.status == Mailbox.Status.ACTIVE and (
        at_once or mailbox.consecutive_failures >= max_tries
    ):
        with transaction.atomic():
            Mailbox.objects.filter(pk=mailbox.pk).update(
                status=Mailbox.Status.FAILED, failed_reason=text
            )
            emit(Event.Kind.MAILBOX_FAILED, mailbox_id=mailbox.pk, mailbox=mailbox.name, error=text)
        log.error(
            "mailbox %s: marked failed after %d tries: %s",
            mailbox.name,
            mailbox.consecutive_failures,
            text,
        )


def record_throttled(mailbox: Mailbox, message: str) -> None:
    """Note that the server asked us to slow down: shown in the status, not a failed try.

    A 429 storm is the server working as designed; counting it towards `max_tries`
    would mark a healthy mailbox failed and stop its mail until a person looks.
    """
    Mailbox.objects.filter(pk=mailbox.pk).update(last_error=message, last_error_at=timezone.now())
    log.info("mailbox %s: throttled by the server: %s", mailbox.name, message)


def record_waiting(mailbox: Mailbox, reason: str) -> None:
    """Note why the mailbox waits for a session (its account is at the server's cap)."""
    Mailbox.objects.filter(pk=mailbox.pk).update(last_error=reason, last_error_at=timezone.now())
    log.info("mailbox %s: %s", mailbox.name, reason)


def clear_waiting(mailbox: Mailbox, reason: str) -> None:
    """The wait is over: its reason leaves the status (unless something else was noted since)."""
    Mailbox.objects.filter(pk=mailbox.pk, last_error=reason).update(
        last_error="", last_error_at=None
    )


def _ago(when: Any, now: Any) -> str:
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def status_rows() -> list[dict[str, str]]:
    """One row per mailbox for `deskmail mailboxes status`: the admin's health view."""
    now = timezone.now()
    leases = {
        lease.mailbox_id: f"{lease.owner} (paused: the channel is off)"
        if lease.paused_at
        else lease.owner
        for lease in Lease.objects.filter(expires_at__gte=now).exclude(owner="")
    }
    cursors = {cursor.mailbox_id: cursor for cursor in SyncCursor.objects.all()}
    inbox = {
        row["mailbox_id"]: (row["count"], row["since"])
        for row in InboxItem.objects.values("mailbox_id").annotate(
            count=Count("id"), since=Min("accepted_at")
        )
    }
    rows = []
    for mailbox in Mailbox.objects.all():
        cursor = cursors.get(mailbox.pk)
        # Not yet fetched from the server, plus fetched and not yet through the pipeline.
        waiting, since = inbox.get(mailbox.pk, (0, None))
        backlog = (cursor.backlog if cursor else 0) + waiting
        pending = [t for t in (cursor.oldest_pending_at if cursor else None, since) if t]
        lag = f"{int((now - min(pending)).total_seconds())} s" if pending else "0 s"
        error = ""
        if mailbox.last_error:
            error = f"{mailbox.last_error} ({_ago(mailbox.last_error_at, now)})"
        state = mailbox.status
        if mailbox.status == Mailbox.Status.FAILED and mailbox.failed_reason:
            state = f"failed: {mailbox.failed_reason}"
        rows.append(
            {
                "name": mailbox.name,
                "state": state,
                "worker": leases.get(mailbox.pk, "-"),
                "last sync": _ago(mailbox.last_sync_at, now),
                "lag": lag,
                "backlog": str(backlog),
                "last error": error or "-",
            }
        )
    return rows
