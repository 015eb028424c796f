"""Signing in, with failed attempts throttled.

Failures are counted in the database per (account, address), per address and
per account, each in a window; past a limit the key is locked for a while and
further attempts are refused *before* the password is checked, with the same
words whether or not the account exists. The (account, address) limit is low
(a person mistyping stays well below it, a guesser does not); the wider limits
are high, so that an attacker elsewhere can hardly lock a colleague out, yet a
password spray from one address or a distributed guess at one account stops.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from deskmail.core.models import SignInThrottle
from deskmail.services.errors import Invalid


@dataclass(frozen=True)
class Limit:
    kind: str
    failures: int
    window: dt.timedelta
    lock: dt.timedelta


LIMITS = (
    Limit("account-address", 5, dt.timedelta(minutes=15), dt.timedelta(minutes=15)),
    Limit("address", 100, dt.timedelta(minutes=15), dt.timedelta(minutes=15)),
    Limit("account", 50, dt.timedelta(hours=1), dt.timedelta(hours=1)),
)
FAILED = "That email and password do not match an account that may sign in."


class Throttled(Invalid):
    """Too many failed attempts: refused without looking at the password."""

    def __init__(self, until: dt.datetime, now: dt.datetime) -> None:
        minutes = max(1, round((until - now).total_seconds() / 60))
        super().__init__(
            f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes != 1)}.",
            field="password",
        )
        self.until = until


def normalise(account: str) -> str:
    return account.strip().lower()


def _keys(account: str, address: str) -> list[tuple[Limit, str]]:
    values = {
        "account-address": f"{account}\0{address}",
        "address": address,
        "account": account,
    }
    return [
        (limit, hashlib.sha256(f"{limit.kind}\0{values[limit.kind]}".encode()).hexdigest())
        for limit in LIMITS
    ]


def refusal(account: str, address: str, now: dt.datetime | None = None) -> Throttled | None:
    """Throttled when any of the keys is locked now, else None."""
    now = now or timezone.now()
    keys = [key for _, key in _keys(normalise(account), address)]
    locked = (
        SignInThrottle.objects.filter(key__in=keys, locked_until__gt=now)
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    return Throttled(locked, now) if locked is not None else None


def record_failure(account: str, address: str, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        for limit, key in _keys(normalise(account), address):
            row, _ = SignInThrottle.objects.select_for_update().get_or_create(
                key=key, defaults={"window_started_at": now}
            )
            if row.window_started_at <= now - limit.window:
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            if row.failures >= limit.failures:
                row.locked_until = now + limit.lock
                row.failures, row.window_started_at = 0, now
            row.save()


def record_success(account: str, address: str) -> None:
    """A good password forgives this address's failures for the account (not the others)."""
    _, key = _keys(normalise(account), address)[0]
    SignInThrottle.objects.filter(key=key).delete()


def sign_in(account: str, password: str, address: str, request: Any = None) -> Any:
    """The active user with these credentials; Invalid (or Throttled) otherwise."""
    now = timezone.now()
    refused = refusal(account, address, now)
    if refused is not None:
        raise refused
    # Accounts are named by their address, in lower case; the first admin is "admin".
    user = authenticate(request, username=account.strip(), password=password)
    if user is None and account.strip() != normalise(account):
        user = authenticate(request, username=normalise(account), password=password)
    if user is None or not user.is_active:
        record_failure(account, address, now)
        raise Invalid(FAILED, field="password")
    record_success(account, address)
    return user
