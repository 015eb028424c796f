"""Who is asking: a personal access token (`Authorization: Bearer …`) or the console's session.

The person is found once per request and kept on it (`principal(request)`), so
the rate limit, the idempotency store and the operation itself all see the
same one. A session counts for a request that changes something only with a
valid CSRF token (the console sends it as `X-CSRFToken`), the same rule as the
console's own forms; a bearer token needs none, since a browser never adds it
by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from deskmail.apitokens import tokens
from deskmail.apitokens.models import AccessToken
from deskmail.services import access
from deskmail.services.access import Actor

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_CACHE = "_deskmail_principal"


@dataclass
class Principal:
    user: Any
    token: AccessToken | None = None
    csrf_failed: bool = field(default=False)

    @cached_property
    def actor(self) -> Actor:
        return access.actor_for(self.user)

    @property
    def client(self) -> str:
        """What the rate limit counts: the token, or the person for a console session."""
        return f"token:{self.token.pk}" if self.token is not None else f"user:{self.user.pk}"


def _find(request: HttpRequest) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        row = tokens.find(value.strip())
        return Principal(row.user, row) if row is not None else None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if request.method not in SAFE_METHODS and check_csrf(request) is not None:
        return Principal(user, csrf_failed=True)
    return Principal(user)


def principal(request: HttpRequest) -> Principal | None:
    """The person behind this request, found once; None when nobody (or a refused session)."""
    if not hasattr(request, _CACHE):
        setattr(request, _CACHE, _find(request))
    found: Principal | None = getattr(request, _CACHE)
    if found is None or found.csrf_failed:
        return None
    return found


def actor(request: HttpRequest) -> Actor:
    """The service layer's actor for an authenticated request."""
    found = request.auth  # type: ignore[attr-defined]
    assert isinstance(found, Principal)
    return found.actor


class BearerToken(HttpBearer):
    """A personal access token, made with `deskmail tokens create` or in the console."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        found = principal(request)
        return found if found is not None and found.token is not None else None


class ConsoleSession(APIKeyCookie):
    """The console's signed-in session, for same-site use, with CSRF on changes."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # Only a session that would count is held to CSRF: a request without one is a
        # plain 401, not a CSRF failure.
        principal(request)
        found: Principal | None = getattr(request, _CACHE)
        if found is not None and found.csrf_failed:
            raise HttpError(403, "CSRF check failed: send the console's CSRF token as X-CSRFToken")
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        found = principal(request)
        return found if found is not None and found.token is None else None
