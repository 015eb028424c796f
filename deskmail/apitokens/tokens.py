"""Making, finding and touching personal access tokens (no permission rules: see
`deskmail.services.tokens` for who may do what)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.utils import timezone

from deskmail.apitokens.models import AccessToken

# Every token starts with this, so that secret scanners (and people) recognise one.
PREFIX = "dmt_"
# How many characters of a token lists show.
SHOWN = 12
# last_used_at is a write; on a busy token, one a minute is enough to answer "is it used?".
LAST_USED_EVERY = dt.timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def issue(
    user: Any, *, name: str = "", expires_at: dt.datetime | None = None
) -> tuple[AccessToken, str]:
    """A new token for the user: the row, and the token itself (never stored)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = AccessToken.objects.create(
        user=user,
        name=name,
        digest=digest(token),
        prefix=token[:SHOWN],
        expires_at=expires_at,
    )
    return row, token


def find(token: str, now: dt.datetime | None = None) -> AccessToken | None:
    """The usable token row for this token (active person, not revoked, not expired)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    now = now or timezone.now()
    row = (
        AccessToken.objects.select_related("user")
        .filter(digest=digest(token), user__is_active=True)
        .first()
    )
    if row is None or not row.usable_at(now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        AccessToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row
