"""Mail that made a pipeline step fail: kept with the error until a retry succeeds."""

from __future__ import annotations

from django.db import models

from deskmail.mailboxes.models import Mailbox


class QuarantinedMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next retry
        RESOLVED = "resolved"  # a retry stored it
        FAILED = "failed"  # out of automatic retries; an operator decides

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
