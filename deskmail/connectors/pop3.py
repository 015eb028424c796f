"""POP3: fetch what the cursor's UIDLs have not seen; leave it or delete it once stored.

POP3 has one folder and no flags, so `mark_seen` and `leave` both leave mail
on the server; the UIDL set in the cursor is what keeps it from being fetched
twice. Deletions take effect only at QUIT (RFC 1939), so `acknowledge()` ends
the session; the next call opens a new one. The cursor also lists the UIDLs
stored but not yet deleted, so a session that dies between storing and
deleting deletes them at the next one instead of leaving them forever.

POP3 has no search either: `sync_since` and `header_filter` apply to IMAP only
(the pipeline applies the header filter to POP3 mail).
"""

from __future__ import annotations

import base64
import poplib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from deskmail.connectors.base import Batch, Cursor, Fetch, RawMessage, SourcePosition, ssl_context
from deskmail.connectors.credentials import TokenSource, xoauth2_string
from deskmail.connectors.errors import ConnectorError, login_failed, network_errors
from deskmail.connectors.session import Session
from deskmail.connectors.settings import InboundConfig

READ_TIMEOUT_S = 60
# poplib refuses lines over 2048 bytes; real mail (and spam) has longer ones.
MAX_LINE = 1 << 20
FOLDER = "INBOX"
# Messages stored together (one commit with the cursor).
BATCH_SIZE = 100


@dataclass(frozen=True)
class Pop3Cursor:
    """The UIDLs stored, and those stored but not yet deleted (after_fetch: delete)."""

    seen: frozenset[str] = frozenset()
    unacked: tuple[str, ...] = ()

    def to_json(self) -> Cursor:
        return {"seen": sorted(self.seen), "unacked": list(self.unacked)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> Pop3Cursor:
        value = value or {}
        return cls(
            frozenset(str(u) for u in value.get("seen") or ()),
            tuple(str(u) for u in value.get("unacked") or ()),
        )


class _Client:
    """poplib with the two things it lacks; the only place that reaches into its internals.

    - Lines up to MAX_LINE: poplib's `_getline` refuses lines over 2048 bytes.
    - AUTH XOAUTH2, which poplib has no command for, through its `_shortcmd`,
      `_putcmd` and `_getresp`.

    `test_pop3.py::test_poplib_still_has_what_the_client_reaches_into` breaks if
    poplib changes those.
    """

    file: Any

    def _getline(self) -> tuple[bytes, int]:
        line: bytes = self.file.readline(MAX_LINE + 1)
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

    def auth_xoauth2(self, username: str, token: str) -> None:
        """RFC 7628-style SASL XOAUTH2; raises poplib.error_proto with the server's words."""
        pop: Any = self
        blob = base64.b64encode(xoauth2_string(username, token).encode()).decode()
        reply: bytes = pop._shortcmd("AUTH XOAUTH2 " + blob)  # noqa: SLF001
        if not reply.startswith(b"+OK"):
            # A JSON error as a challenge: an empty answer gets the final -ERR.
            pop._putcmd("")  # noqa: SLF001
            pop._getresp()  # noqa: SLF001


class _POP3(_Client, poplib.POP3):
    pass


class _POP3SSL(_Client, poplib.POP3_SSL):
    pass


class Pop3Connector(Session[poplib.POP3]):
    protocol = "POP3"
    config: InboundConfig

    def __init__(
        self, config: InboundConfig, credentials: TokenSource, *, ca_file: str | None = None
    ) -> None:
        super().__init__(config, credentials, ca_file=ca_file)
        self._numbers: dict[str, int] = {}

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", after_fetch={self.config.after_fetch})"

    def connect(self) -> None:
        if self.config.after_fetch.startswith("move:"):
            raise ConnectorError(
                "POP3 has no folders, so mail cannot be moved: use after_fetch leave or delete.",
                permanent=True,
            )
        super().connect()

    def _connect(self) -> poplib.POP3:
        c = self.config
        context = ssl_context(c.verify_certificate, self.ca_file)
        with _errors(f"Connecting to POP3 server {self.where}", c.connect_timeout_s):
            if c.security == "ssl":
                client: poplib.POP3 = _POP3SSL(
                    self.host, self.port, timeout=c.connect_timeout_s, context=context
                )
            else:
                client = _POP3(self.host, self.port, timeout=c.connect_timeout_s)
        if c.security == "starttls":
            with _errors(f"STLS with POP3 server {self.where}", c.connect_timeout_s):
                try:
                    if "STLS" not in client.capa():
                        raise ConnectorError(
                            f"POP3 server {self.where} does not offer STLS; not continuing "
                            "unencrypted. Use security: ssl, or none only on a trusted network.",
                            permanent=True,
                            cause="security",
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
        with _errors(f"Logging in to POP3 server {self.where}", c.auth_timeout_s):
            try:
                if self.oauth:
                    assert isinstance(client, _Client)
                    client.auth_xoauth2(user, self.credentials.secret())
                else:
                    client.user(user)
                    client.pass_(self.credentials.secret())
            except poplib.error_proto as exc:
                raise login_failed("POP3", user, _reply(exc), oauth=self.oauth) from None

    def _after_login(self, client: poplib.POP3) -> None:
        client.sock.settimeout(READ_TIMEOUT_S)

    def _logout(self, client: poplib.POP3) -> None:
        try:
            client.quit()
        except (poplib.error_proto, OSError):
            _shutdown(client)

    def _shutdown(self, client: poplib.POP3) -> None:
        _shutdown(client)

    def _forget(self) -> None:
        self._numbers = {}

    def _list_uidls(self) -> list[str]:
        client = self.client()
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
        client = self.client()
        with _errors("Counting POP3 messages"):
            return int(client.stat()[0])

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [("count messages", lambda: f"{self.count_messages()} messages")]

    def fetch(self, cursor: Cursor) -> Fetch:
        """The messages whose UIDL the cursor has not seen, in server order."""
        where = Pop3Cursor.from_json(cursor)
        order = self._list_uidls()
        new = [uidl for uidl in order if uidl not in where.seen]
        # UIDLs gone from the server can never come back: the cursor forgets them.
        still = where.seen & set(order)
        if not new:
            forgotten = still != where.seen
            batches = iter([Batch([], Pop3Cursor(still).to_json())] if forgotten else [])
            return Fetch(batches)
        return Fetch(self._read(new, still), total=len(new))

    def _read(self, uidls: list[str], seen: frozenset[str]) -> Iterator[Batch]:
        client = self.client()
        delete = self.config.after_fetch == "delete"
        for start in range(0, len(uidls), BATCH_SIZE):
            chunk = uidls[start : start + BATCH_SIZE]
            messages = []
            for uidl in chunk:
                with _errors("Fetching a POP3 message (RETR)"):
                    _, lines, _ = client.retr(self._numbers[uidl])
                raw = b"\r\n".join(lines) + b"\r\n"
                messages.append(RawMessage(raw, SourcePosition("pop3", FOLDER, None, uidl)))
            seen = seen | set(chunk)
            unacked = tuple(chunk) if delete else ()
            yield Batch(messages, Pop3Cursor(seen, unacked).to_json())

    def acknowledge(self, cursor: Cursor) -> Cursor:
        """Delete the stored messages the cursor lists (after_fetch delete), committed by QUIT."""
        where = Pop3Cursor.from_json(cursor)
        done = Pop3Cursor(where.seen).to_json()
        if not where.unacked or self.config.after_fetch != "delete":
            return done
        if not self._numbers:
            self._list_uidls()
        client = self.client()
        with _errors("Deleting POP3 messages"):
            for uidl in where.unacked:
                number = self._numbers.get(uidl)
                if number is not None:
                    client.dele(number)
            client.quit()
        self._client = None
        self._logged_in = False
        self._numbers = {}
        return done

    def can_wait(self) -> bool:
        return False

    def wait_for_new_mail(self, seconds: float, *, stop: Callable[[], bool] | None = None) -> bool:
        raise ConnectorError("POP3 cannot wait for new mail; poll instead", permanent=True)


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
