"""Who may make, see and revoke personal access tokens.

A person makes and revokes their own tokens; an admin (and the operator, on the
command line) may do so for anyone. A token acts as its person, with exactly
that person's mailboxes: it never carries more than its owner may do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from deskmail.apitokens import tokens as store
from deskmail.apitokens.models import AccessToken
from deskmail.services.access import Actor
from deskmail.services.errors import Forbidden, Invalid, NotFound

MAX_DAYS = 3650


def _expiry(days: int | None, now: dt.datetime) -> dt.datetime | None:
    if days is None:
        return None
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"a token lasts between 1 and {MAX_DAYS} days", field="expires_days")
    return now + dt.timedelta(days=days)


def create(
    actor: Actor, user: Any, *, name: str = "", expires_days: int | None = None
) -> tuple[AccessToken, str]:
    """A new token for `user`: the row and the token, which is shown this once only."""
    if actor.user_id != user.pk and not actor.is_admin:
        raise Forbidden("only an admin may make a token for someone else")
    if not user.is_active:
        raise Invalid(f"{user.get_username()} cannot sign in (inactive)", field="user")
    name = name.strip()
    if len(name) > 200:
        raise Invalid("a token's name has at most 200 characters", field="name")
    return store.issue(user, name=name, expires_at=_expiry(expires_days, timezone.now()))


def tokens(actor: Actor, *, everyone: bool = False) -> QuerySet[AccessToken]:
    """The actor's own tokens; every token for an admin who asks for everyone's."""
    rows = AccessToken.objects.select_related("user")
    if everyone and actor.is_admin:
        return rows.all()
    if actor.user_id is None:
        return rows.none()
    return rows.filter(user_id=actor.user_id)


def token(actor: Actor, pk: int) -> AccessToken:
    found = tokens(actor, everyone=True).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no token {pk}")
    return found


def revoke(actor: Actor, pk: int) -> AccessToken:
    """Revoke a token at once; revoking it again changes nothing."""
    row = token(actor, pk)
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
    return row
