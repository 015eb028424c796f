"""What the connectors that speak HTTP (Graph, EWS) share: the URL check and the reach test.

A connector never does less than asked: a plain `http://` URL is used only with
`security: none` (a test server on a trusted network); otherwise the URL must be
`https://` and its certificate is verified (against `DESKMAIL_CA_FILE` when set)
unless the mailbox turns `verify_certificate` off.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from deskmail.connectors.base import ssl_context
from deskmail.connectors.errors import ConnectorError, network_errors
from deskmail.connectors.settings import Security


def checked_url(url: str, security: Security, what: str) -> str:
    """The URL if it is as secure as `security` asks; else a permanent ConnectorError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectorError(f"{what} {url!r} is not an http(s) URL.", permanent=True)
    if parts.scheme == "http" and security != "none":
        raise ConnectorError(
            f"{what} {url!r} is not encrypted; not sending credentials over it. Use https, "
            "or security: none only for a test server on a trusted network.",
            permanent=True,
        )
    return url


def requests_verify(verify_certificate: bool, ca_file: str | None) -> bool | str:
    """The `verify` argument for requests: our CA bundle, the system's, or (asked for) none."""
    if not verify_certificate:
        return False
    return ca_file or True


Step = tuple[str, Callable[[], str]]


def reach_steps(
    url: str, verify_certificate: bool, ca_file: str | None, timeout: float
) -> list[Step]:
    """The connection test's first steps: the server answers; TLS (for https) is verified."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)

    def connect() -> str:
        with network_errors(f"Connecting to {host}:{port}", timeout):
            socket.create_connection((host, port), timeout=timeout).close()
        return f"{host}:{port} answers"

    def handshake() -> str:
        if parts.scheme != "https":
            return "not encrypted: http, as security: none allows"
        context = ssl_context(verify_certificate, ca_file)
        with network_errors(f"TLS with {host}:{port}", timeout):
            with socket.create_connection((host, port), timeout=timeout) as sock:
                with context.wrap_socket(sock, server_hostname=host) as tls:
                    version = tls.version() or "TLS"
        checked = "certificate verified" if verify_certificate else "certificate NOT verified"
        return f"{version}, {checked}"

    return [(f"reach {host}:{port}", connect), (f"TLS with {host}", handshake)]
