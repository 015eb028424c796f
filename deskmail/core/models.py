"""Rows the whole installation shares: the sign-in throttle."""

from __future__ import annotations

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
