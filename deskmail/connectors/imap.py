"""IMAP: incremental sync of one folder by UID, the after-fetch action, and IDLE.

Security is what the mailbox says (implicit TLS, STARTTLS or none) and never
less: if STARTTLS is asked for and not offered, the connection is refused
rather than continued in clear. Certificates are verified unless the mailbox
turns `verify_certificate` off.

Sync: a message is offered when it matches the header filter search (UNSEEN by
default) and its UID is above the checkpoint's. When the folder's UIDVALIDITY
is not the checkpoint's, the UIDs mean something else now: everything matching
is offered again with `resync=True`, and the caller drops duplicates by
Message-ID. With `duplicate_check: false` the UID checkpoint is ignored, so a
message a user marks unread again is fetched again.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

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
from deskmail.mail.headerfilter import matches, parse_header_filter
from deskmail.mailboxes.config import InboundConfig

# Once logged in, how long a single read may wait (a big FETCH streams steadily).
READ_TIMEOUT_S = 60
BATCH_SIZE = 500
# A batch also stops at about this many bytes, so big attachments cannot fill the memory.
BATCH_BYTES = 32 * 1024 * 1024
# Message sizes are read this many at a time, to plan the batches.
SIZES_PER_FETCH = 5000
# How often a wait for new mail checks whether it should stop.
STOP_CHECK_S = 0.25
# Longest single IDLE before a NOOP and a search double-check the folder.
IDLE_RECHECK_S = 30
# The first IDLE after a sync: a change made just as it began is caught this soon.
FIRST_IDLE_S = 1.0
_COMMAND_FAILED = re.compile(r"^[a-z_]+ failed: ")
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class ImapConnector:
    """One IMAP account and folder. Use as a context manager, or `open()` / `close()`."""

    kind: Kind = "imap"

    def __init__(
        self,
        config: InboundConfig,
        secret: Secret,
        *,
        ca_file: str | None = None,
        batch_size: int = BATCH_SIZE,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.config = config
        self._secret = secret
        self.ca_file = ca_file
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.host = config.host or ""
        self.port = config.default_port()
        self._client: IMAPClient | None = None
        self._logged_in = False
        self._selected: dict[bytes, Any] | None = None

    def __repr__(self) -> str:
        c = self.config
        return (
            f"ImapConnector({c.username}@{self.host}:{self.port}, security={c.security}, "
            f"auth={c.auth}, folder={c.folder!r})"
        )

    def __enter__(self) -> ImapConnector:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def folder(self) -> str:
        return self.config.folder

    # -- connection -------------------------------------------------------------------

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
        assert self._client is not None
        if self._logged_in:
            return
        try:
            self._login(self._client)
        except BaseException:
            _shutdown(self._client)
            self._client = None
            raise
        self._client.socket().settimeout(READ_TIMEOUT_S)
        self._logged_in = True

    def close(self) -> None:
        client, self._client, self._selected = self._client, None, None
        self._logged_in = False
        if client is not None:
            try:
                client.logout()
            except (IMAPClientError, imaplib.IMAP4.error, OSError):
                _shutdown(client)

    def capabilities(self) -> set[str]:
        return {c.decode() for c in self._require().capabilities()}

    def _connect(self) -> IMAPClient:
        c = self.config
        context = ssl_context(c.verify_certificate, self.ca_file)
        timeout = SocketTimeout(connect=c.connect_timeout_s, read=c.auth_timeout_s)
        where = f"{self.host}:{self.port}"
        with _errors(f"Connecting to IMAP server {where}", timeout=c.connect_timeout_s):
            client = IMAPClient(
                self.host, port=self.port, ssl=c.security == "ssl", ssl_context=context,
                timeout=timeout,
            )  # fmt: skip
        if c.security == "starttls":
            if not client.has_capability("STARTTLS"):
                _shutdown(client)
                raise ConnectorError(
                    f"IMAP server {where} does not offer STARTTLS; not continuing unencrypted. "
                    "Use security: ssl, or none only on a trusted network.",
                    permanent=True,
                )
            with _errors(f"STARTTLS with IMAP server {where}", timeout=c.connect_timeout_s):
                try:
                    client.starttls(context)
                except BaseException:
                    _shutdown(client)
                    raise
        return client

    def _login(self, client: IMAPClient) -> None:
        c = self.config
        with _errors(f"Logging in to IMAP server {self.host}:{self.port}", c.auth_timeout_s):
            try:
                if c.auth == "oauth2":
                    client.sasl_login("XOAUTH2", _Xoauth2(c.username or "", self._secret))
                else:
                    client.login(c.username or "", resolve_secret(self._secret))
            except LoginError as exc:
                reply = _reply(exc)
                raise login_failed("IMAP", c.username, reply, oauth=c.auth == "oauth2") from None

    @contextmanager
    def _guard(self, doing: str, *, missing_is_permanent: bool = False) -> Iterator[None]:
        """Like _errors; after a temporary failure the next call starts a new session."""
        try:
            with _errors(doing, missing_is_permanent=missing_is_permanent):
                yield
        except ConnectorError as exc:
            if not exc.permanent and self._client is not None:
                _shutdown(self._client)
                self._client, self._selected, self._logged_in = None, None, False
            raise

    def _require(self) -> IMAPClient:
        self.open()
        assert self._client is not None
        return self._client

    # -- folders ------------------------------------------------------------------------

    def list_folders(self) -> list[str]:
        client = self._require()
        with self._guard("Listing IMAP folders"):
            return [name for _flags, _delimiter, name in client.list_folders()]

    def count_messages(self, folder: str | None = None) -> int:
        client = self._require()
        folder = folder or self.folder
        with self._guard(f"Counting messages in IMAP folder {folder!r}"):
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def append(self, folder: str, raw: bytes, flags: Sequence[bytes] = (b"\\Seen",)) -> None:
        """Store raw in folder (created when missing), e.g. a copy of sent mail."""
        client = self._require()
        with self._guard(f"Appending to IMAP folder {folder!r}"):
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=tuple(flags))

    def has_message_id(self, folder: str, message_id: str) -> bool:
        """Whether folder holds a message with this Message-ID (without angle brackets)."""
        client = self._require()
        with self._guard(f"Searching IMAP folder {folder!r}"):
            if not client.folder_exists(folder):
                return False
            self._selected = None  # the sync folder must be selected again before a fetch
            client.select_folder(folder, readonly=True)
            return bool(client.search(["HEADER", "Message-ID", f"<{message_id}>"]))

    def _select(self) -> dict[bytes, Any]:
        client = self._require()
        with self._guard(f"Opening IMAP folder {self.folder!r}", missing_is_permanent=True):
            self._selected = client.select_folder(self.folder)
        return self._selected

    # -- sync ------------------------------------------------------------------------------

    def fetch(self, checkpoint: Checkpoint) -> FetchResult:
        """The messages after checkpoint, oldest UID first, read in batches as iterated."""
        client = self._require()
        selected = self._select()
        uidvalidity = int(selected[b"UIDVALIDITY"])
        known = checkpoint.uidvalidity is not None
        resync = known and checkpoint.uidvalidity != uidvalidity
        after = checkpoint.last_uid if known and not resync and self.config.duplicate_check else 0
        keys = header_filter_to_search(self.config.header_filter)
        if after:
            keys += ["UID", f"{after + 1}:*"]
        if (not known or resync) and self.config.sync_since:
            keys += ["SINCE", _imap_date(self.config.sync_since)]
        with self._guard(f"Searching IMAP folder {self.folder!r}"):
            # "UID n:*" always matches the highest UID, even one below n.
            uids = sorted(uid for uid in client.search(" ".join(keys)) if uid > after)
        skipped: list[SourcePosition] = []
        return FetchResult(
            self._read(uids, uidvalidity, skipped),
            uidvalidity=uidvalidity,
            resync=resync,
            total=len(uids),
            skipped=skipped,
        )

    def _read(
        self, uids: list[int], uidvalidity: int, skipped: list[SourcePosition]
    ) -> Iterator[RawMessage]:
        client = self._require()
        terms = parse_header_filter(self.config.header_filter)
        for batch in self._batches(uids):
            with self._guard(f"Fetching from IMAP folder {self.folder!r}"):
                found = client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                data = found.get(uid)
                if data is None or b"BODY[]" not in data:
                    continue  # expunged since the search
                raw = data[b"BODY[]"]
                position = SourcePosition("imap", self.folder, uidvalidity, str(uid))
                if matches(terms, raw):
                    yield RawMessage(raw, position)
                else:
                    skipped.append(position)

    def _batches(self, uids: list[int]) -> Iterator[list[int]]:
        """The UIDs in batches of at most batch_size messages and batch_bytes bytes.

        Only the sizes of messages over batch_bytes / batch_size are read (found
        with one SEARCH LARGER); the rest cannot exceed the limit together.
        """
        if not uids:
            return
        client = self._require()
        small = max(1, self.batch_bytes // self.batch_size)
        doing = f"Reading message sizes in IMAP folder {self.folder!r}"
        with self._guard(doing):
            wanted = set(uids)
            large = sorted(uid for uid in client.search(f"LARGER {small}") if uid in wanted)
        sizes = dict.fromkeys(uids, small)
        for start in range(0, len(large), SIZES_PER_FETCH):
            with self._guard(doing):
                found = client.fetch(large[start : start + SIZES_PER_FETCH], ["RFC822.SIZE"])
            for uid, data in found.items():
                if uid in sizes and b"RFC822.SIZE" in data:
                    sizes[uid] = int(data[b"RFC822.SIZE"])
        yield from batches(list(sizes.items()), self.batch_size, self.batch_bytes)

    def ack(self, positions: Sequence[SourcePosition]) -> None:
        """Apply after_fetch to messages the caller has stored and committed."""
        action = self.config.after_fetch
        if action == "leave":
            return
        selected = self._selected or self._select()
        uidvalidity = int(selected[b"UIDVALIDITY"])
        uids = [
            int(p.uid)
            for p in positions
            if p.kind == "imap" and p.folder == self.folder and p.uidvalidity == uidvalidity
        ]
        client = self._require()
        for start in range(0, len(uids), 1000):
            chunk = uids[start : start + 1000]
            with self._guard(f"{action} in IMAP folder {self.folder!r}", missing_is_permanent=True):
                if action == "mark_seen":
                    client.add_flags(chunk, [b"\\Seen"], silent=True)
                elif action == "delete":
                    client.delete_messages(chunk, silent=True)
                    self._expunge(chunk)
                else:
                    self._move(chunk, action.removeprefix("move:"))

    def _expunge(self, uids: list[int]) -> None:
        client = self._require()
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()

    def _move(self, uids: list[int], target: str) -> None:
        client = self._require()
        if not client.folder_exists(target):
            client.create_folder(target)
        if client.has_capability("MOVE"):
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.delete_messages(uids, silent=True)
            self._expunge(uids)

    # -- push -------------------------------------------------------------------------------

    def supports_idle(self) -> bool:
        return self._require().has_capability("IDLE")

    def wait_for_new_mail(
        self,
        seconds: float,
        *,
        poll_every: float = 5,
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Wait up to seconds for new mail in the folder; True as soon as some arrives.

        Uses IDLE where the server has it, else polls every poll_every seconds.
        Servers end an IDLE after 30 minutes (RFC 2177): keep seconds below 29 * 60.
        `stop()` is checked every quarter second; when it returns True the wait ends (False).
        """
        client = self._require()
        selected = self._selected or self._select()
        uidnext = int(selected.get(b"UIDNEXT", 0))
        if uidnext and self._arrived_since(uidnext):
            return True  # arrived before the wait began: no EXISTS will come for it
        deadline = time.monotonic() + seconds
        stopped = stop or (lambda: False)
        if not self.supports_idle():
            next_poll = time.monotonic() + poll_every
            while (left := deadline - time.monotonic()) > 0 and not stopped():
                time.sleep(min(STOP_CHECK_S, left, max(0, next_poll - time.monotonic())))
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + poll_every
                    if uidnext and self._arrived_since(uidnext):
                        return True
            return False
        # Each IDLE lasts at most IDLE_RECHECK_S; between two, a NOOP and a search catch
        # mail whose EXISTS slipped between commands (a safety net, cheap at that pace).
        asked_to_stop = False

        def stopping() -> bool:
            nonlocal asked_to_stop
            asked_to_stop = asked_to_stop or stopped()
            return asked_to_stop

        # Dovecot can miss a change made just as IDLE begins, so the first IDLE is short
        # and followed by a check; the rest last up to IDLE_RECHECK_S each.
        slice_s = FIRST_IDLE_S
        while (left := deadline - time.monotonic()) > 0:
            if self._idle_once(client, min(left, slice_s), stopping):
                return True
            slice_s = IDLE_RECHECK_S
            if asked_to_stop:
                return False
            if uidnext and self._arrived_since(uidnext):
                return True
        return False

    def _idle_once(self, client: IMAPClient, seconds: float, stopped: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + seconds
        with self._guard(f"Waiting for mail (IDLE) in IMAP folder {self.folder!r}"):
            client.idle()
            arrived = False
            try:
                while not arrived and (left := deadline - time.monotonic()) > 0 and not stopped():
                    responses = client.idle_check(timeout=min(STOP_CHECK_S, left))
                    arrived = any(_is_exists(response) for response in responses)
            finally:
                # An EXISTS can also come in just before the server ends the IDLE.
                done = client.idle_done()
            return arrived or any(_is_exists(response) for response in done[1])

    def _arrived_since(self, uidnext: int) -> bool:
        client = self._require()
        with self._guard(f"Checking IMAP folder {self.folder!r} for new mail"):
            client.noop()  # Dovecot shows new messages to a session only after a sync
            # Mail arriving during the SEARCH is announced (EXISTS) with its reply but is
            # not in its result; imaplib keeps such announcements in untagged_responses.
            pending = client._imap.untagged_responses  # noqa: SLF001
            pending.pop("EXISTS", None)
            found = any(uid >= uidnext for uid in client.search(f"UID {uidnext}:*"))
            return found or pending.pop("EXISTS", None) is not None


class _Xoauth2:
    """The XOAUTH2 SASL exchange: the bearer string first, then an empty answer.

    On failure the server sends a JSON error as a challenge and waits for an
    empty reply before its NO; answering it again would hang or confuse it.
    """

    def __init__(self, username: str, secret: Secret) -> None:
        self._username = username
        self._secret = secret
        self._sent = False

    def __call__(self, challenge: bytes) -> bytes:
        if self._sent:
            return b""
        self._sent = True
        token = resolve_secret(self._secret)
        return f"user={self._username}\x01auth=Bearer {token}\x01\x01".encode()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def header_filter_to_search(text: str | None) -> list[str]:
    """The mailbox header filter as IMAP SEARCH keys, quoted as sent: join them with spaces.

    ""                          -> UNSEEN
    "x-antivirus-report"        -> UNSEEN HEADER "x-antivirus-report" ""
    "x-antivirus-report=SAFE"   -> UNSEEN HEADER "x-antivirus-report" "SAFE"
    """
    keys = ["UNSEEN"]
    for term in parse_header_filter(text):
        keys += ["HEADER", _quote(term.name), _quote(term.value or "")]
    return keys


def batches(sizes: list[tuple[int, int]], max_count: int, max_bytes: int) -> Iterator[list[int]]:
    """Group (uid, size) pairs in order: at most max_count each, and max_bytes unless one
    message alone is bigger (it then goes alone)."""
    batch: list[int] = []
    total = 0
    for uid, size in sizes:
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _is_exists(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) > 1 and response[1] == b"EXISTS"


def _imap_date(day: dt.date) -> str:
    """RFC 3501 date (`01-Jan-2026`), independent of the locale."""
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


def _reply(exc: BaseException) -> str:
    """The server's words from an imaplib/imapclient error."""
    text = _COMMAND_FAILED.sub("", str(exc), count=1)
    if text[:2] in ("b'", 'b"') and text[-1:] in ("'", '"'):
        text = text[2:-1]
    return text.strip()


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except (OSError, IMAPClientError, imaplib.IMAP4.error):
        pass


@contextmanager
def _errors(
    doing: str, timeout: float | None = None, *, missing_is_permanent: bool = False
) -> Iterator[None]:
    """Turn what imaplib and imapclient raise into a ConnectorError."""
    with network_errors(doing, timeout):
        try:
            yield
        except imaplib.IMAP4.abort as exc:
            raise ConnectorError(
                f"{doing}: the connection was lost ({_reply(exc)}).", permanent=False
            ) from None
        except (IMAPClientError, imaplib.IMAP4.error) as exc:
            reply = _reply(exc)
            missing = "NONEXISTENT" in reply or "doesn't exist" in reply
            raise ConnectorError(
                f"{doing}: the server said: {reply}",
                permanent=missing_is_permanent and missing,
                server_reply=reply,
            ) from None
