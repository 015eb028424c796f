"""What the API remembers between requests: idempotent responses and rate windows."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotentRequest(models.Model):
    """A POST made with an Idempotency-Key, and the response it got.

    Written in the transaction of the request itself, so the key exists exactly
    when the request's effects do (see `deskmail.api.idempotency`).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 over method, path, content type and body: the same key with another
    # request is refused rather than answered with the first one's response.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveIntegerField(default=0)
    content_type = models.CharField(max_length=200, blank=True, default="")
    location = models.CharField(max_length=2000, blank=True, default="")
    body = models.BinaryField(default=b"")
    # The response held a secret shown once (Cache-Control: no-store): its body is not kept.
    withheld = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_response_per_key")]
        indexes = [models.Index(fields=["user", "created_at"], name="idempotency_age")]

    def __str__(self) -> str:
        return f"{self.key} of {self.user_id}: {self.status_code}"


class RateWindow(models.Model):
    """Requests one client made in one minute, shared by every server process."""

    # "token:<id>" or "user:<id>" (a console session).
    client = models.CharField(max_length=64)
    minute = models.BigIntegerField()  # Unix time // 60
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "minute"], name="one_count_per_minute")
        ]

    def __str__(self) -> str:
        return f"{self.client} @{self.minute}: {self.count}"
