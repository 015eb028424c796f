"""An app-only OAuth2 token (client credentials) as a token source, refreshed before it expires.

For tenants that grant deskmail's application permissions on their mailboxes
instead of a user's delegated ones. The token is asked for with the
client-credentials grant (`oauth.client_credentials`, MSAL for Microsoft) and kept
in this process, per application and scope, until five minutes before it expires;
a connector that sees it refused (401) calls `invalidate()` and gets a new one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from deskmail.connectors.credentials import Mechanism
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.oauth import OAuthError, OAuthProvider, TokenSet, client_credentials

# A token this close to its expiry is not used any more.
EARLY_S = 300

_lock = threading.Lock()
_tokens: dict[tuple[OAuthProvider, tuple[str, ...]], TokenSet] = {}


class AppToken:
    """The access token of an application, for every mailbox it was granted."""

    mechanism: Mechanism = "xoauth2"

    def __init__(self, provider: OAuthProvider, scope: Sequence[str]) -> None:
        self._key = (provider, tuple(scope))

    def __repr__(self) -> str:
        provider, scope = self._key
        return f"AppToken({provider.kind} app {provider.client_id}, scope={' '.join(scope)})"

    def secret(self) -> str:
        with _lock:
            held = _tokens.get(self._key)
            if held is not None and not held.expires_within(EARLY_S):
                return held.access_token
            provider, scope = self._key
            try:
                fresh = client_credentials(provider, scope)
            except OAuthError as exc:
                raise ConnectorError(
                    exc.message,
                    permanent=exc.permanent,
                    server_reply=exc.description or exc.provider_error,
                    auth=exc.permanent,
                ) from None
            _tokens[self._key] = fresh
            return fresh.access_token

    def invalidate(self) -> None:
        """The token was refused: the next `secret()` asks for a new one."""
        with _lock:
            _tokens.pop(self._key, None)
