"""The quarantine: mail that made a step fail, kept with the error and retried with backoff.

A retry runs the whole pipeline again on the stored raw bytes. After
`MAX_ATTEMPTS` failures an item stops being retried automatically (status
failed) so that a poison message cannot fail forever; an operator can still
retry it by hand.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback as tb

from django.db import transaction
from django.utils import timezone

from deskmail.ingest.api import IngestResult, SourcePosition, ingest_once
from deskmail.ingest.models import QuarantinedMessage
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.blobs import read_raw

_FOLD = re.compile(rb"\r?\n[ \t]+")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^>\s]+)>?", re.IGNORECASE | re.MULTILINE)

MAX_ATTEMPTS = 5
FIRST_DELAY = dt.timedelta(minutes=5)


def backoff(attempts: int) -> dt.timedelta:
    """5, 10, 20, 40 minutes ... after the 1st, 2nd, 3rd, 4th failure."""
    return FIRST_DELAY * (2 ** max(attempts - 1, 0))


def _describe(exc: BaseException) -> tuple[str, str]:
    return f"{type(exc).__name__}: {exc}", "".join(tb.format_exception(exc))


def _message_id(digest: str) -> str:
    """The Message-ID from the raw headers, without the parser (which may be what failed)."""
    try:
        match = _MESSAGE_ID.search(_FOLD.sub(b" ", read_raw(digest)[:65536]))
    except OSError:
        return ""
    return match.group(1).decode("ascii", "replace")[:998] if match else ""


def record(
    mailbox: Mailbox,
    digest: str,
    *,
    source: SourcePosition | None,
    delivered_to: str | None,
    history: bool,
    exc: BaseException,
) -> QuarantinedMessage:
    """Keep a failed message (one pending row per mailbox and content)."""
    error, trace = _describe(exc)
    now = timezone.now()
    item = (
        QuarantinedMessage.objects.select_for_update()
        .filter(mailbox=mailbox, raw_sha256=digest, status=QuarantinedMessage.Status.PENDING)
        .first()
    )
    if item is not None:
        item.attempts += 1
    else:
        item = QuarantinedMessage(
            mailbox=mailbox,
            raw_sha256=digest,
            header_message_id=_message_id(digest),
            source=source.to_json() if source else {},
            delivered_to=delivered_to or "",
            history=history,
        )
    item.error, item.traceback = error, trace
    item.next_retry_at = now + backoff(item.attempts)
    item.save()
    return item


def retry(item: QuarantinedMessage) -> IngestResult:
    """Run the pipeline on a quarantined message again; mark it resolved or count the failure."""
    try:
        result = ingest_once(
            item.mailbox,
            read_raw(item.raw_sha256),
            item.raw_sha256,
            source=SourcePosition.from_json(item.source),
            delivered_to=item.delivered_to or None,
            history=item.history,
        )
    except Exception as exc:  # noqa: BLE001 - kept and counted, never raised to the worker
        error, trace = _describe(exc)
        item.attempts += 1
        item.error, item.traceback = error, trace
        if item.attempts >= MAX_ATTEMPTS:
            item.status = QuarantinedMessage.Status.FAILED
            item.next_retry_at = None
        else:
            item.next_retry_at = timezone.now() + backoff(item.attempts)
        item.save()
        return IngestResult("quarantined", error=error)
    item.status = QuarantinedMessage.Status.RESOLVED
    item.next_retry_at = None
    item.message = result.message
    item.save()
    return result


def retry_due(now: dt.datetime | None = None) -> list[IngestResult]:
    """Retry every pending item whose time has come."""
    now = now or timezone.now()
    results = []
    due = QuarantinedMessage.objects.filter(
        status=QuarantinedMessage.Status.PENDING, next_retry_at__lte=now
    ).select_related("mailbox")
    for item in due:
        with transaction.atomic():
            results.append(retry(item))
    return results
