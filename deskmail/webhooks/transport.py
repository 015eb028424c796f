"""One HTTP POST of a delivery, to the checked address, and what came back.

`http.client` rather than a higher-level client: the connection must go to the
address `addresses.checked` approved, while the Host header, TLS SNI and the
certificate check still use the URL's host name. Redirects are not followed
(a 3xx is a failure: following it would lead past the address check).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from deskmail.webhooks.addresses import Refused, Resolver, checked, resolve

TIMEOUT_S = 10.0
# How much of the receiver's answer the delivery log keeps.
RESPONSE_HEAD = 1024
USER_AGENT = "deskmail-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    duration_ms: int
    response: str = ""
    error: str = ""


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.CA_FILE:
        context.load_verify_locations(cafile=settings.CA_FILE)
    return context


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float = TIMEOUT_S,
    lookup: Resolver = resolve,
) -> Outcome:
    """POST body to url; never raises for the receiver's or the network's failures."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        address = checked(host, port, allow_private=allow_private, lookup=lookup)
    except Refused as exc:
        return Outcome(False, None, took(), error=str(exc))
    connection: http.client.HTTPConnection
    if secure:
        connection = _PinnedHTTPS(host, port, address, timeout, _tls_context())
    else:
        connection = _PinnedHTTP(host, port, address, timeout)
    try:
        connection.request(
            "POST",
            target,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Connection": "close",
            },
        )
        answer = connection.getresponse()
        head = answer.read(RESPONSE_HEAD).decode("utf-8", "replace")
        status = answer.status
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, None, took(), error=f"{type(exc).__name__}: {exc}".strip())
    finally:
        connection.close()
    ok = 200 <= status < 300
    error = "" if ok else f"the receiver answered {status} {answer.reason}".strip()
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    return Outcome(ok, status, took(), response=head, error=error)
