"""Where a connector gets what it logs in with: a password, or an OAuth2 access token.

A connector asks its `TokenSource` at every login, never earlier, so that an
OAuth2 token refreshed meanwhile is the one used. The secret never appears in
a repr, a log line or an error message.
"""

from __future__ import annotations

from typing import Literal, Protocol

Mechanism = Literal["password", "xoauth2"]


class TokenSource(Protocol):
    @property
    def mechanism(self) -> Mechanism:
        """How the secret is sent: a LOGIN/PLAIN password, or a SASL XOAUTH2 bearer token."""
        ...

    def secret(self) -> str:
        """The password, or a fresh access token."""
        ...


class Password:
    """A password (or an app password), as stored."""

    mechanism: Mechanism = "password"

    def __init__(self, password: str) -> None:
        self._password = password

    def secret(self) -> str:
        return self._password

    def __repr__(self) -> str:
        return "Password(<hidden>)"


class BearerToken:
    """An OAuth2 access token used as it is (refreshing is someone else's job)."""

    mechanism: Mechanism = "xoauth2"

    def __init__(self, token: str) -> None:
        self._token = token

    def secret(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"


def xoauth2_string(username: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (Google's and Microsoft's documented format)."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01"
