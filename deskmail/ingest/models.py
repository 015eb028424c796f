"""Mail that made a pipeline step fail: kept with the error until a retry succeeds."""

from __future__ import annotations

import datetime as dt
import re
import traceback as tb
from typing import Any

from django.db import models
from django.utils import timezone

from deskmail.ingest.types import NotAnEmail, OverBudget
from deskmail.mailboxes.models import Mailbox

_FOLD = re.compile(rb"\r?\n[ \t]+")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^>\s]+)>?", re.IGNORECASE | re.MULTILINE)

# Automatic retries of a quarantined message before an operator must decide.
MAX_ATTEMPTS = 5
FIRST_DELAY = dt.timedelta(minutes=5)


def backoff(attempts: int) -> dt.timedelta:
    """5, 10, 20, 40 minutes ... after the 1st, 2nd, 3rd, 4th failure."""
    wait: dt.timedelta = FIRST_DELAY * (2 ** max(attempts - 1, 0))
    return wait


def describe(exc: BaseException) -> tuple[str, str]:
    """The error in one line, and its traceback."""
    return f"{type(exc).__name__}: {exc}", "".join(tb.format_exception(exc))


def header_message_id(raw: bytes) -> str:
    """The Message-ID from the raw headers, without the parser (which may be what failed)."""
    match = _MESSAGE_ID.search(_FOLD.sub(b" ", raw[:65536]))
    return match.group(1).decode("ascii", "replace")[:998] if match else ""


class QuarantinedMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next retry
        RESOLVED = "resolved"  # a retry stored it
        FAILED = "failed"  # out of automatic retries (or never retried); an operator decides

    raw_sha256 = models.CharField(max_length=64, db_index=True)
    # Read from the raw headers when it was quarantined ("" when none could be read).
    header_message_id = models.CharField(max_length=998, blank=True, default="", db_index=True)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="quarantine")
    # SourcePosition as JSON ({} when none), and the rest of what ingest() was given.
    source = models.JSONField(default=dict, blank=True)
    delivered_to = models.CharField(max_length=254, blank=True, default="")
    history = models.BooleanField(default=False)
    error = models.TextField()
    traceback = models.TextField(blank=True, default="")
    attempts = models.IntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    next_retry_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    message = models.ForeignKey("tickets.Message", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.raw_sha256[:12]} in {self.mailbox_id}: {self.error[:60]}"

    @classmethod
    def keep(
        cls,
        mailbox: Mailbox,
        raw: bytes,
        digest: str,
        *,
        source: dict[str, Any],
        delivered_to: str | None,
        history: bool,
        exc: BaseException,
    ) -> QuarantinedMessage:
        """Keep a failed message (one waiting row per mailbox and content), in the caller's
        transaction. Bytes that are not an email are never retried automatically."""
        error, trace = describe(exc)
        waiting = (
            QuarantinedMessage.objects.select_for_update()
            .filter(mailbox=mailbox, raw_sha256=digest, status=cls.Status.PENDING)
            .first()
        )
        if waiting is not None:
            item = waiting
            item.attempts += 1
        else:
            item = QuarantinedMessage(
                mailbox=mailbox,
                raw_sha256=digest,
                header_message_id=header_message_id(raw),
                source=source,
                delivered_to=delivered_to or "",
                history=history,
            )
        item.error, item.traceback = error, trace
        item.failed(retry=not isinstance(exc, (NotAnEmail, OverBudget)))
        item.save()
        return item

    def failed(self, *, retry: bool = True) -> None:
        """Schedule the next automatic retry, or give up when they are used up (not saved)."""
        if retry and self.attempts < MAX_ATTEMPTS:
            self.next_retry_at = timezone.now() + backoff(self.attempts)
        else:
            self.status = self.Status.FAILED
            self.next_retry_at = None


class InboxItem(models.Model):
    """A raw message fetched and stored, waiting for the pipeline.

    A connector's session writes these rows together with its cursor in one
    transaction, then acknowledges the mail on the server, and never waits for
    the pipeline. The engine claims a mailbox's rows (`InboxLane`), runs each
    through the pipeline and deletes it in the same transaction that stores the
    message or quarantines it. A row outlives every crash until then.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="inbox")
    raw_sha256 = models.CharField(max_length=64)
    raw_size = models.BigIntegerField(default=0)
    # SourcePosition as JSON ({} when none).
    source = models.JSONField(default=dict, blank=True)
    delivered_to = models.CharField(max_length=254, blank=True, default="")
    # Mail older than the mailbox's activation: no acknowledgement, no rate limit.
    history = models.BooleanField(default=False)
    arrived_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["mailbox", "id"], name="inbox_per_mailbox")]

    def __str__(self) -> str:
        return f"{self.raw_sha256[:12]} for {self.mailbox_id}"


class InboxLane(models.Model):
    """Who processes a mailbox's inbox rows now: one engine at a time, in arrival order."""

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="inbox_lane")
    owner = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.mailbox_id} processed by {self.owner or 'nobody'}"
