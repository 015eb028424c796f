"""The life of one connection, shared by the IMAP, POP3 and SMTP connectors.

    connect (reach the server, secure the connection) -> login -> use -> close

`open()` is connect then login. A failed login closes the connection. After a
temporary failure (`drop()`), the next call starts a new session. A subclass
says how to do each part with its library; nothing here knows a protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Self

from deskmail.connectors.credentials import TokenSource
from deskmail.connectors.settings import InboundConfig, OutboundConfig


class Session[Client](ABC):
    """A connection to one account; use as a context manager, or `open()` / `close()`."""

    protocol = "?"  # "IMAP", for messages

    def __init__(
        self,
        config: InboundConfig | OutboundConfig,
        credentials: TokenSource,
        *,
        ca_file: str | None = None,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.ca_file = ca_file
        self.host = config.host or ""
        self.port = config.default_port()
        self._client: Client | None = None
        self._logged_in = False

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{type(self).__name__}({c.username}@{self.host}:{self.port}, "
            f"security={c.security}, auth={self.credentials.mechanism})"
        )

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def oauth(self) -> bool:
        return self.credentials.mechanism == "xoauth2"

    def open(self) -> None:
        """Connect, secure and log in; raises ConnectorError."""
        self.connect()
        self.login()

    def connect(self) -> None:
        """Reach the server and secure the connection, without logging in."""
        if self._client is None:
            self._client = self._connect()
            self._logged_in = False

    def login(self) -> None:
        self.connect()
        client = self._client
        assert client is not None
        if self._logged_in:
            return
        try:
            self._login(client)
        except BaseException:
            self._shutdown(client)
            self._client = None
            raise
        self._after_login(client)
        self._logged_in = True

    def close(self) -> None:
        """Log out politely if the connection still works; never raises."""
        client, self._client = self._client, None
        self._logged_in = False
        self._forget()
        if client is not None:
            self._logout(client)

    def drop(self) -> None:
        """Abandon the connection after a temporary failure: the next call starts anew."""
        client, self._client = self._client, None
        self._logged_in = False
        self._forget()
        if client is not None:
            self._shutdown(client)

    def client(self) -> Client:
        """The logged-in client, (re)connecting when there is none."""
        self.open()
        assert self._client is not None
        return self._client

    def connection_steps(self) -> list[tuple[str, Callable[[], str]]]:
        """The connection test's first steps (connect, log in): (what, do it -> what was found)."""
        c = self.config
        where = f"{c.host}:{c.default_port()} ({c.security})"
        steps: list[tuple[str, Callable[[], str]]] = [
            (f"connect to {where}", lambda: _done(self.connect, "connected"))
        ]
        if c.username:
            steps.append((f"log in as {c.username}", lambda: _done(self.login, "logged in")))
        return steps

    # -- what each protocol says ---------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Client:
        """Reach the server and secure the connection as `security` says, or raise."""

    @abstractmethod
    def _login(self, client: Client) -> None:
        """Log in with the credentials, or raise ConnectorError (with the server's words)."""

    def _after_login(self, client: Client) -> None:  # noqa: B027 - optional for a subclass
        """Once logged in (e.g. a longer read timeout)."""

    @abstractmethod
    def _logout(self, client: Client) -> None:
        """End the session politely, falling back to _shutdown; never raises."""

    @abstractmethod
    def _shutdown(self, client: Client) -> None:
        """Close the socket; never raises."""

    def _forget(self) -> None:  # noqa: B027 - optional for a subclass
        """Forget what belonged to the connection (a selected folder, message numbers)."""


def _done(action: Callable[[], None], verdict: str) -> str:
    action()
    return verdict
