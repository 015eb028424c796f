"""Webhook endpoints, their deliveries (one per endpoint and event) and each attempt.

A delivery row is made from the event log (see `fanout`) and carries the body
it will send, fixed once, so a retry sends the very same bytes under the same
delivery id. Its order key (the ticket, or the mailbox) keeps the deliveries of
one ticket in the order the events happened (see `send`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from deskmail.core.crypto import EncryptedTextField
from deskmail.mailboxes.models import Mailbox


class Endpoint(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        # By an admin, or by the sender after it kept failing (disabled_reason says which).
        DISABLED = "disabled"

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=300, blank=True, default="")
    # The HMAC-SHA256 key of the signature, encrypted at rest like mailbox passwords.
    secret = EncryptedTextField()
    # Event kinds to send; empty: every kind.
    events = models.JSONField(default=list, blank=True)
    # Mailboxes whose events to send; none: every mailbox.
    mailboxes = models.ManyToManyField(Mailbox, blank=True, related_name="+")
    # Loopback, private and link-local addresses are refused unless an admin allows them here.
    allow_private_addresses = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    disabled_reason = models.TextField(blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Events up to this id happened before the endpoint existed: not sent.
    after_event = models.BigIntegerField(default=0)

    # Health, written by the sender.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # While the receiver fails, nothing is sent to it before this time.
    paused_until = models.DateTimeField(null=True, blank=True)
    # One sender at a time per endpoint (that is what keeps each ticket's events in order).
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} {self.url}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        # Given up after a day of failures; an admin may send it again.
        FAILED = "failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField()
    # Sent as the Deskmail-Delivery header, the same on every retry: receivers dedupe by it.
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=40)
    # "ticket:<id>", "mailbox:<id>" or "": deliveries of one key go out in event order.
    order_key = models.CharField(max_length=64, blank=True, default="")
    body = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, default="")
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="one_delivery_per_event")
        ]
        indexes = [
            models.Index(fields=["endpoint", "status", "order_key", "id"], name="delivery_queue"),
            models.Index(fields=["status", "created_at"], name="delivery_age"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.event_id} to {self.endpoint_id} ({self.status})"


class Attempt(models.Model):
    """One POST of a delivery: the delivery log shows these."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    ok = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # The first bytes of the receiver's answer, as text.
    response = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"attempt on {self.delivery_id}: {self.status_code or self.error}"


class FanoutState(models.Model):
    """How far the event log has been turned into deliveries (one row, pk 1).

    `position` is the last event id handled. A missing id after it (a gap) is
    either a transaction still running or one rolled back; `gap_at` and
    `gap_snapshot` remember the first gap and the PostgreSQL snapshot taken when
    it was seen, until every transaction then running has ended (see `fanout`).
    """

    position = models.BigIntegerField(default=0)
    gap_at = models.BigIntegerField(null=True, blank=True)
    gap_snapshot = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"webhooks fan-out at event {self.position}"
