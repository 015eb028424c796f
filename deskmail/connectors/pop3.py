"""POP3: fetch what the UIDL checkpoint has not seen; leave it or delete it once stored.

POP3 has one folder and no flags, so `mark_seen` and `leave` both leave mail
on the server; the UIDL list in the checkpoint is what keeps it from being
fetched twice. Deletions take effect only at QUIT (RFC 1939), so `ack()`
ends the session; the next call opens a new one.

POP3 has no search either: `sync_since` and `header_filter` apply to IMAP only.
"""

from __future__ import annotations

import base64
import poplib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from deskmail.connectors.base import (
    Checkpoint,
    FetchResult,
    Kind,
    RawMessage,
    Secret,
    SourcePosition,
    resolve_secret,
    ssl_context,
)
from deskmail.connectors.errors import ConnectorError, login_failed, network_errors
from deskmail.mailboxes.config import InboundConfig

READ_TIMEOUT_S = 60
# poplib refuses lines over 2048 bytes; real mail (and spam) has longer ones.
MAX_LINE = 1 << 20
FOLDER = "INBOX"


class _LongLines:
    def _getline(self: Any) -> tuple[bytes, int]:
        line = self.file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        if line[-2:] == b"\r\n":
            return line[:-2], octets
        if line[:1] == b"\r":
            return line[1:-1], octets
        return line[:-1], octets


class _POP3(_LongLines, poplib.POP3):
    pass


class _POP3SSL(_LongLines, poplib.POP3_SSL):
    pass


class Pop3Connector:
    kind: Kind = "pop3"

    def __init__(
        self, config: InboundConfig, secret: Secret, *, ca_file: str | None = None
    ) -> None:
        self.config = config
        self._secret = secret
        self.ca_file = ca_file
        self.host = config.host or ""
        self.port = config.default_port()
        self._client: poplib.POP3 | None = None
        self._logged_in = False
        self._numbers: dict[str, int] = {}

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Pop3Connector({c.username}@{self.host}:{self.port}, security={c.security}, "
            f"auth={c.auth}, after_fetch={c.after_fetch})"
        )

    def __enter__(self) -> Pop3Connector:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, secure and log in; raises ConnectorError."""
        self.connect()
        self.login()

    def connect(self) -> None:
        """Reach the server and secure the connection, without logging in."""
        if self.config.after_fetch.startswith("move:"):
            raise ConnectorError(
                "POP3 has no folders, so mail cannot be moved: use after_fetch leave or delete.",
                permanent=True,
            )
        if self._client is None:
            self._client = self._connect()
            self._logged_in = False

    def login(self) -> None:
        self.connect()
        assert self._client is not None
        if self._logged_in:
            return
        try:
            self._login(self._client)
        except BaseException:
            _shutdown(self._client)
            self._client = None
            raise
        self._client.sock.settimeout(READ_TIMEOUT_S)
        self._logged_in = True

    def close(self) -> None:
        client, self._client = self._client, None
        self._logged_in = False
        self._numbers = {}
        if client is not None:
            try:
                client.quit()
            except (poplib.error_proto, OSError):
                _shutdown(client)

    def _connect(self) -> poplib.POP3:
        c = self.config
        where = f"{self.host}:{self.port}"
        context = ssl_context(c.verify_certificate, self.ca_file)
        with _errors(f"Connecting to POP3 server {where}", c.connect_timeout_s):
            if c.security == "ssl":
                client: poplib.POP3 = _POP3SSL(
                    self.host, self.port, timeout=c.connect_timeout_s, context=context
                )
            else:
                client = _POP3(self.host, self.port, timeout=c.connect_timeout_s)
        if c.security == "starttls":
            with _errors(f"STLS with POP3 server {where}", c.connect_timeout_s):
                try:
                    capabilities = client.capa()
                    if "STLS" not in capabilities:
                        raise ConnectorError(
                            f"POP3 server {where} does not offer STLS; not continuing "
                            "unencrypted. Use security: ssl, or none only on a trusted network.",
                            permanent=True,
                        )
                    client.stls(context)
                except BaseException:
                    _shutdown(client)
                    raise
        return client

    def _login(self, client: poplib.POP3) -> None:
        c = self.config
        user = c.username or ""
        client.sock.settimeout(c.auth_timeout_s)
        with _errors(f"Logging in to POP3 server {self.host}:{self.port}", c.auth_timeout_s):
            try:
                if c.auth == "oauth2":
                    token = resolve_secret(self._secret)
                    blob = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
                    reply = client._shortcmd("AUTH XOAUTH2 " + base64.b64encode(blob).decode())
                    if not reply.startswith(b"+OK"):
                        # A JSON error as a challenge: an empty answer gets the final -ERR.
                        client._putcmd("")
                        client._getresp()
                else:
                    client.user(user)
                    client.pass_(resolve_secret(self._secret))
            except poplib.error_proto as exc:
                raise login_failed("POP3", user, _reply(exc), oauth=c.auth == "oauth2") from None

    def _require(self) -> poplib.POP3:
        self.open()
        assert self._client is not None
        return self._client

    def _list_uidls(self) -> list[str]:
        client = self._require()
        with _errors("Listing POP3 messages (UIDL)"):
            _, lines, _ = client.uidl()
        self._numbers = {}
        order = []
        for line in lines:
            number, uidl = line.decode("ascii", "replace").split(None, 1)
            self._numbers[uidl] = int(number)
            order.append(uidl)
        return order

    def count_messages(self) -> int:
        client = self._require()
        with _errors("Counting POP3 messages"):
            return int(client.stat()[0])

    def fetch(self, checkpoint: Checkpoint) -> FetchResult:
        """The messages whose UIDL the checkpoint has not seen, in server order."""
        order = self._list_uidls()
        new = [uidl for uidl in order if uidl not in checkpoint.seen_uidls]
        return FetchResult(self._read(new), server_uids=frozenset(order), total=len(new))

    def _read(self, uidls: list[str]) -> Iterator[RawMessage]:
        client = self._require()
        for uidl in uidls:
            with _errors("Fetching a POP3 message (RETR)"):
                _, lines, _ = client.retr(self._numbers[uidl])
            raw = b"\r\n".join(lines) + b"\r\n"
            yield RawMessage(raw, SourcePosition("pop3", FOLDER, None, uidl))

    def ack(self, positions: Sequence[SourcePosition]) -> None:
        """Delete stored messages when after_fetch is delete (committed by QUIT)."""
        if self.config.after_fetch != "delete":
            return
        uidls = [p.uid for p in positions if p.kind == "pop3"]
        if not uidls:
            return
        if self._client is None:
            self._list_uidls()
        client = self._require()
        with _errors("Deleting POP3 messages"):
            for uidl in uidls:
                number = self._numbers.get(uidl)
                if number is not None:
                    client.dele(number)
            client.quit()
        self._client = None
        self._logged_in = False
        self._numbers = {}


def _reply(exc: BaseException) -> str:
    """The server's words from a poplib error."""
    arg = exc.args[0] if exc.args else exc
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text.removeprefix("-ERR ").strip()


def _shutdown(client: poplib.POP3) -> None:
    try:
        client.close()
    except OSError:
        pass


@contextmanager
def _errors(doing: str, timeout: float | None = None) -> Iterator[None]:
    with network_errors(doing, timeout):
        try:
            yield
        except poplib.error_proto as exc:
            reply = _reply(exc)
            raise ConnectorError(
                f"{doing}: the server said: {reply}", permanent=False, server_reply=reply
            ) from None
