"""Rows the whole installation shares: the sign-in throttle, the channel switch."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SignInThrottle(models.Model):
    """Failed sign-ins counted per key (an account at an address, an address, an account).

    In the database rather than a per-process cache, so that every server process
    and restart sees the same counts.
    """

    # A SHA-256 of the key's kind and value: no address or account name stored in clear.
    key = models.CharField(max_length=64, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key[:12]}… {self.failures} failures"


class ChannelSwitch(models.Model):
    """The email channel as a whole: on, or off (no mail fetched or sent). One row, pk 1.

    In the database, so that every worker and web process on every machine sees the
    same switch; no row means on. Who switched it is kept by name as well, so the
    record outlives the person's account.
    """

    ROW = 1

    on = models.BooleanField(default=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by_name = models.CharField(max_length=200, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")

    def __str__(self) -> str:
        return f"channel {'on' if self.on else 'off'}"
