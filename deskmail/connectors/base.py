"""What every connector shares: raw messages with their source position, and checkpoints.

A connector talks one protocol and knows nothing of tickets. The caller drives it:

    with connector:
        result = connector.fetch(checkpoint)
        for message in result:
            store(message)              # raw bytes first, checkpoint in the same commit
        commit()
        connector.ack(positions)       # only now: mark seen, delete or move

A secret (password, or a callable returning a fresh OAuth2 access token) is
passed separately from the configuration; it is never logged nor shown in a repr.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Kind = Literal["imap", "pop3", "graph", "ews", "forward"]
# A password, or a token source called at each login (so a refreshed token is used).
Secret = str | Callable[[], str]


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

    def __repr__(self) -> str:
        return f"RawMessage({len(self.raw)} bytes, {self.position!r})"


@dataclass(frozen=True)
class Checkpoint:
    """How far the caller has stored: fetch offers only what comes after it."""

    uidvalidity: int | None = None
    last_uid: int = 0
    seen_uidls: frozenset[str] = frozenset()

    def advanced(self, positions: Iterable[SourcePosition]) -> Checkpoint:
        """This checkpoint moved past positions (which the caller has stored)."""
        uidvalidity, last_uid, uidls = self.uidvalidity, self.last_uid, set(self.seen_uidls)
        for position in positions:
            if position.kind == "imap":
                if position.uidvalidity != uidvalidity:
                    uidvalidity, last_uid = position.uidvalidity, 0
                last_uid = max(last_uid, int(position.uid))
            else:
                uidls.add(position.uid)
        return Checkpoint(uidvalidity, last_uid, frozenset(uidls))


@dataclass
class FetchResult:
    """The messages after a checkpoint, in server order, read lazily in batches.

    `resync` is True when the folder's UIDVALIDITY is not the checkpoint's: the
    server renumbered the folder, so everything matching is offered again and the
    caller must drop duplicates by Message-ID.
    """

    messages: Iterator[RawMessage]
    uidvalidity: int | None = None
    resync: bool = False
    # POP3: every UIDL on the server, so the caller can forget the ones gone.
    server_uids: frozenset[str] | None = None
    # How many messages the server offered (before the client-side header check).
    total: int = 0
    # Filled while iterating: messages the server's search matched but the exact
    # header filter did not. The caller may move its checkpoint past them.
    skipped: list[SourcePosition] = field(default_factory=list)

    def __iter__(self) -> Iterator[RawMessage]:
        return self.messages


class Connector(Protocol):
    kind: Kind

    def open(self) -> None: ...

    def close(self) -> None: ...

    def fetch(self, checkpoint: Checkpoint) -> FetchResult: ...

    def ack(self, positions: Sequence[SourcePosition]) -> None: ...


def ssl_context(verify: bool, ca_file: str | None = None) -> ssl.SSLContext:
    """A client TLS context: verified against the system CAs (or ca_file) unless verify is off."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        # Only by the mailbox's own verify_certificate: false, for self-signed servers.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def resolve_secret(secret: Secret) -> str:
    return secret() if callable(secret) else secret
