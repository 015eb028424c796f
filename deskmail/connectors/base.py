"""What every inbound connector shares: raw messages with their position, cursors, batches.

A connector talks one protocol and knows nothing of tickets. The caller drives it:

    with session:
        cursor = session.acknowledge(cursor)       # finish what a crash left undone
        fetch = session.fetch(cursor)
        for batch in fetch.batches:
            store(batch.messages, batch.cursor)     # raw bytes and the cursor, one commit
            cursor = session.acknowledge(batch.cursor)  # only now: mark seen, delete, move

The **cursor** is the connector's own record of how far the caller has stored
(an IMAP UIDVALIDITY and UID, a set of POP3 UIDLs, a Graph deltaLink, an EWS
sync state) plus what is stored but not yet acknowledged on the server. It is
opaque to the caller: a JSON object it keeps in the database and hands back.

Credentials come from a `TokenSource` (deskmail.connectors.credentials), asked
at each login, so a refreshed OAuth2 token is used; they are never logged nor
shown in a repr.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

# The connector's own record of its progress, as JSON; see the module docstring.
Cursor = dict[str, Any]
# Recipients a server refused while it accepted the others: address -> (code, its words).
Refused = dict[str, tuple[int, bytes | str]]


@dataclass(frozen=True)
class SourcePosition:
    """Where a message was found; the same message has the same position every time.

    `kind` names the source (imap, pop3, graph, ews, smtp for the forwarding
    receiver, import for archives); `folder`, `uidvalidity` and `uid` locate the
    message there (an IMAP UID in its folder, a POP3 UIDL, a Graph message id,
    an archive's path and index).
    """

    kind: str
    folder: str = ""
    uidvalidity: int | None = None
    uid: str = ""

    def key(self) -> str:
        """kind:folder:uidvalidity:uid, the form deliveries are looked up by."""
        validity = "" if self.uidvalidity is None else self.uidvalidity
        return f"{self.kind}:{self.folder}:{validity}:{self.uid}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "folder": self.folder,
            "uidvalidity": self.uidvalidity,
            "uid": self.uid,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> SourcePosition | None:
        if not value:
            return None
        uidvalidity = value.get("uidvalidity")
        return cls(
            kind=str(value.get("kind", "")),
            folder=str(value.get("folder", "")),
            uidvalidity=int(uidvalidity) if uidvalidity is not None else None,
            uid=str(value.get("uid", "")),
        )


@dataclass(frozen=True)
class RawMessage:
    raw: bytes
    position: SourcePosition
    # When the server received it (IMAP INTERNALDATE, Graph receivedDateTime), if it says.
    arrived_at: dt.datetime | None = None

    def __repr__(self) -> str:
        return f"RawMessage({len(self.raw)} bytes, {self.position!r})"


@dataclass(frozen=True)
class Batch:
    """Messages to store together, and the cursor to store with them in the same commit."""

    messages: list[RawMessage]
    cursor: Cursor


@dataclass
class Fetch:
    """What a fetch offers after a cursor, in server order, read lazily batch by batch.

    `resync` is True when the source renumbered (an IMAP UIDVALIDITY change, an
    expired delta token): everything matching is offered again and the caller
    drops duplicates by Message-ID. `skipped` fills while iterating with the
    positions the exact header check refused; they are stepped over in the
    batch cursors and never acknowledged.
    """

    batches: Iterator[Batch]
    total: int = 0
    resync: bool = False
    skipped: list[SourcePosition] = field(default_factory=list)

    def messages(self) -> Iterator[RawMessage]:
        """Every message of every batch (the batches' cursors are dropped)."""
        for batch in self.batches:
            yield from batch.messages


class InboundSession(Protocol):
    """One connection to one mailbox's source, opened and closed by the caller."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def fetch(self, cursor: Cursor) -> Fetch:
        """The messages after the cursor; each batch carries the cursor past it."""
        ...

    def acknowledge(self, cursor: Cursor) -> Cursor:
        """Apply the after-fetch action to what the cursor says is stored but not yet
        acknowledged; the cursor with nothing left to acknowledge."""
        ...

    def can_wait(self) -> bool:
        """Whether `wait_for_new_mail` is pushed by the server (IMAP IDLE) rather than polled."""
        ...

    def wait_for_new_mail(self, seconds: float, *, stop: Callable[[], bool] | None = None) -> bool:
        """Wait up to seconds for new mail; True as soon as some arrives."""
        ...

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        """Steps of a connection test after the login: (what, do it -> what was found)."""
        ...


class Sender(Protocol):
    """One connection that sends mail (SMTP, or an API that takes MIME)."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def send(self, envelope_from: str, recipients: list[str], raw: bytes) -> Refused:
        """Send; the recipients the server refused (the others got it). Raises
        ConnectorError when nobody got it."""
        ...


def ssl_context(verify: bool, ca_file: str | None = None) -> ssl.SSLContext:
    """A client TLS context: verified against the system CAs (or ca_file) unless verify is off."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        # Only by the mailbox's own verify_certificate: false, for self-signed servers.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
