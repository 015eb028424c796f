"""What the worker writes about each mailbox, for `deskmail mailboxes status` and the console.

Health columns are written with queryset updates, which leave `updated_at`
alone: the supervisor reads `updated_at` as the configuration's version.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import F
from django.utils import timezone

from deskmail.mailboxes.models import Mailbox

log = logging.getLogger(__name__)


def record_success(mailbox: Mailbox, report: Any = None) -> None:
    changes: dict[str, Any] = {"last_sync_at": timezone.now(), "consecutive_failures": 0}
    if mailbox.status == Mailbox.Status.FAILED:
        changes.update(status=Mailbox.Status.ACTIVE, failed_reason="")
        log.info("mailbox %s: recovered", mailbox.name)
    Mailbox.objects.filter(pk=mailbox.pk).update(**changes)
    if report is not None and report.fetched:
        log.info("mailbox %s: %d fetched %s", mailbox.name, report.fetched, report.outcomes)


def record_failure(mailbox: Mailbox, message: str, server_reply: str | None) -> None:
    """Count a failure; the `max_tries`-th in a row marks the mailbox failed."""
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
    if mailbox.consecutive_failures >= max_tries and mailbox.status == Mailbox.Status.ACTIVE:
        Mailbox.objects.filter(pk=mailbox.pk).update(
            status=Mailbox.Status.FAILED, failed_reason=text
        )
        log.error("mailbox %s: marked failed after %d tries: %s", mailbox.name, max_tries, text)
