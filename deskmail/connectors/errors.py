"""The one error a connector raises, with what the admin needs to act on it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager


class ConnectorError(Exception):
    """A connector could not do its job.

    `permanent` says whether retrying can help (wrong password, 5xx, unknown
    folder) or not (timeout, refused connection, 4xx). `server_reply` keeps the
    server's own words for the admin. `auth` marks a login failure, which the
    admin fixes by re-entering the password or reauthorizing the account.
    `retry_after` is how many seconds the server asked to wait before the next try
    (a throttled request), when it said. `reauthorize`: an OAuth2 grant was refused
    for good; only a person signing in again can fix it, so trying again is useless.
    `cause` names the setting that is most likely wrong when reaching the server
    failed: "port" (nothing listens there), "security" (the TLS setting does not
    match what the port speaks) or "certificate" (the server's certificate is not
    trusted); "" when no one setting can be named.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        server_reply: str | None = None,
        auth: bool = False,
        retry_after: float | None = None,
        reauthorize: bool = False,
        cause: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.server_reply = server_reply
        self.auth = auth
        self.retry_after = retry_after
        self.reauthorize = reauthorize
        self.cause = cause

    def __repr__(self) -> str:
        return (
            f"ConnectorError({self.message!r}, permanent={self.permanent}, "
            f"server_reply={self.server_reply!r}, auth={self.auth})"
        )


def login_failed(protocol: str, username: str | None, reply: str, *, oauth: bool) -> ConnectorError:
    """The error for a refused login, telling the admin what to do about it."""
    action = (
        "Reauthorize the mailbox (the OAuth2 token was refused)."
        if oauth
        else "Re-enter the password."
    )
    return ConnectorError(
        f"{protocol} login as {username} was refused: {reply.rstrip('.')}. {action}",
        permanent=True,
        server_reply=reply,
        auth=True,
    )


@contextmanager
def network_errors(doing: str, timeout: float | None = None) -> Iterator[None]:
    """Turn TLS, timeout and socket errors into a ConnectorError that says what was being done.

    Protocol errors are for the caller to translate inside this block
    (smtplib's are OSErrors too, so they must be caught first).
    """
    try:
        yield
    except ConnectorError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise ConnectorError(
            f"{doing}: the server's certificate is not trusted: it could not be verified "
            f"({exc.verify_message}). If the server's certificate comes from your "
            "organisation's own CA, point DESKMAIL_CA_FILE at that CA's certificate; otherwise "
            "fix the server's certificate. Only for a test server you trust: set "
            "verify_certificate: false.",
            permanent=True,
            server_reply=exc.verify_message,
            cause="certificate",
        ) from None
    except ssl.SSLError as exc:
        raise ConnectorError(
            f"{doing}: TLS failed ({exc.reason or exc}). Check the port and security setting: "
            "ssl is for a port that starts with TLS (993, 995, 465), starttls and none for "
            "one that starts in plain text (143, 110, 587, 25).",
            permanent=True,
            cause="security",
        ) from None
    except ConnectionRefusedError as exc:
        raise ConnectorError(
            f"{doing}: {exc.strerror or 'Connection refused'}: nothing listens on that port. "
            "Check the port (and that the server runs).",
            permanent=False,
            cause="port",
        ) from None
    except TimeoutError:
        wait = f" within {timeout:g} s" if timeout else ""
        raise ConnectorError(f"{doing}: no answer{wait}.", permanent=False) from None
    except OSError as exc:
        raise ConnectorError(f"{doing}: {exc.strerror or exc}.", permanent=False) from None
