"""Retrying the quarantine: mail that made a step fail, run through the pipeline again.

A retry runs the whole pipeline again on the stored raw bytes. After
`MAX_ATTEMPTS` failures an item stops being retried automatically (status
failed) so that a poison message cannot fail forever; an operator can still
retry it by hand.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from deskmail.connectors.base import SourcePosition
from deskmail.ingest.engine import IngestResult, ingest_once
from deskmail.ingest.models import QuarantinedMessage, describe
from deskmail.ingest.types import NotAnEmail, Outcome, OverBudget
from deskmail.tickets.blobs import read_raw


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
        item.error, item.traceback = describe(exc)
        item.attempts += 1
        item.failed(retry=not isinstance(exc, (NotAnEmail, OverBudget)))
        item.save()
        return IngestResult(Outcome.QUARANTINED, error=item.error)
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
