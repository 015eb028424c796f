"""A personal access token: a person's key for the API, shown once and stored hashed.

The token itself is 32 random bytes, so a plain SHA-256 of it is a safe thing to
store and to look up by (a slow password hash guards guessable secrets, and
these are not guessable). The first characters are kept in clear so that a
person can tell their tokens apart in a list.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models


class AccessToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=200, blank=True, default="")
    # SHA-256 of the whole token, hex.
    digest = models.CharField(max_length=64, unique=True)
    # The token's first characters, for lists ("dmt_AbC1x...").
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Written at most once a minute per token (see apitokens.tokens.LAST_USED_EVERY).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'}) of {self.user_id}"

    def usable_at(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def state_at(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"
