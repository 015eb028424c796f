"""IMAP: incremental sync of one folder by UID, the after-fetch action, and IDLE.

Security is what the mailbox says (implicit TLS, STARTTLS or none) and never
less: if STARTTLS is asked for and not offered, the connection is refused
rather than continued in clear. Certificates are verified unless the mailbox
turns `verify_certificate` off.

Sync: a message is offered when it matches the header filter search (UNSEEN by
default) and its UID is above the cursor's. When the folder's UIDVALIDITY is
not the cursor's, the UIDs mean something else now: everything matching is
offered again with `resync=True`, and the caller drops duplicates by
Message-ID. With `duplicate_check: false` the UID in the cursor is not used to
skip mail, so a message a user marks unread again is fetched again.

The cursor (`ImapCursor`): the folder's UIDVALIDITY, the highest UID stored,
and the UIDs stored but not yet acknowledged (marked seen, deleted or moved).
"""

from __future__ import annotations

import datetime as dt
import imaplib
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

from deskmail.connectors.base import Batch, Cursor, Fetch, RawMessage, SourcePosition, ssl_context
from deskmail.connectors.credentials import TokenSource, xoauth2_string
from deskmail.connectors.errors import ConnectorError, login_failed, network_errors
from deskmail.connectors.session import Session
from deskmail.connectors.settings import InboundConfig
from deskmail.mail.headerfilter import matches, parse_header_filter

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


@dataclass(frozen=True)
class ImapCursor:
    """How far a folder is stored: its UIDVALIDITY, the highest UID, and what awaits the ack."""

    uidvalidity: int | None = None
    last_uid: int = 0
    unacked: tuple[int, ...] = ()

    def to_json(self) -> Cursor:
        return {
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "unacked": list(self.unacked),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> ImapCursor:
        value = value or {}
        uidvalidity = value.get("uidvalidity")
        return cls(
            uidvalidity=int(uidvalidity) if uidvalidity is not None else None,
            last_uid=int(value.get("last_uid") or 0),
            unacked=tuple(int(uid) for uid in value.get("unacked") or ()),
        )


class ImapConnector(Session[IMAPClient]):
    """One IMAP account and folder."""

    protocol = "IMAP"
    config: InboundConfig

    def __init__(
        self,
        config: InboundConfig,
        credentials: TokenSource,
        *,
        ca_file: str | None = None,
        batch_size: int = BATCH_SIZE,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        super().__init__(config, credentials, ca_file=ca_file)
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self._selected: dict[bytes, Any] | None = None

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", folder={self.folder!r})"

    @property
    def folder(self) -> str:
        return self.config.folder

    # -- connection -------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        c = self.config
        context = ssl_context(c.verify_certificate, self.ca_file)
        timeout = SocketTimeout(connect=c.connect_timeout_s, read=c.auth_timeout_s)
        with _errors(f"Connecting to IMAP server {self.where}", timeout=c.connect_timeout_s):
            client = IMAPClient(
                self.host, port=self.port, ssl=c.security == "ssl", ssl_context=context,
                timeout=timeout,
            )  # fmt: skip
        client.normalise_times = False  # INTERNALDATE with its zone, not local naive time
        if c.security == "starttls":
            if not client.has_capability("STARTTLS"):
                _shutdown(client)
                raise ConnectorError(
                    f"IMAP server {self.where} does not offer STARTTLS; not continuing "
                    "unencrypted. Use security: ssl, or none only on a trusted network.",
                    permanent=True,
                    cause="security",
                )
            with _errors(f"STARTTLS with IMAP server {self.where}", timeout=c.connect_timeout_s):
                try:
                    client.starttls(context)
                except BaseException:
                    _shutdown(client)
                    raise
        return client

    def _login(self, client: IMAPClient) -> None:
        c = self.config
        username = c.username or ""
        with _errors(f"Logging in to IMAP server {self.where}", c.auth_timeout_s):
            try:
                if self.oauth:
                    client.sasl_login("XOAUTH2", _Xoauth2(username, self.credentials))
                else:
                    client.login(username, self.credentials.secret())
            except LoginError as exc:
                raise login_failed("IMAP", username, _reply(exc), oauth=self.oauth) from None

    def _after_login(self, client: IMAPClient) -> None:
        client.socket().settimeout(READ_TIMEOUT_S)

    def _logout(self, client: IMAPClient) -> None:
        try:
            client.logout()
        except (IMAPClientError, imaplib.IMAP4.error, OSError):
            _shutdown(client)

    def _shutdown(self, client: IMAPClient) -> None:
        _shutdown(client)

    def _forget(self) -> None:
        self._selected = None

    @contextmanager
    def _guard(self, doing: str, *, missing_is_permanent: bool = False) -> Iterator[None]:
        """Like _errors; after a temporary failure the next call starts a new session."""
        try:
            with _errors(doing, missing_is_permanent=missing_is_permanent):
                yield
        except ConnectorError as exc:
            if not exc.permanent:
                self.drop()
            raise

    def capabilities(self) -> set[str]:
        return {c.decode() for c in self.client().capabilities()}

    # -- folders ------------------------------------------------------------------------

    def list_folders(self) -> list[str]:
        client = self.client()
        with self._guard("Listing IMAP folders"):
            return [str(name) for _flags, _delimiter, name in client.list_folders()]

    def count_messages(self, folder: str | None = None) -> int:
        client = self.client()
        folder = folder or self.folder
        with self._guard(f"Counting messages in IMAP folder {folder!r}"):
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("list folders", self._check_folders),
            (f"count messages in {self.folder}", lambda: f"{self.count_messages()} messages"),
        ]

    def _check_folders(self) -> str:
        folders = self.list_folders()
        if self.folder not in folders:
            raise ConnectorError(
                f"the folder {self.folder!r} does not exist; the server has: {', '.join(folders)}",
                permanent=True,
            )
        return f"{len(folders)} folders: {', '.join(folders)}"

    def append(self, folder: str, raw: bytes, flags: Sequence[bytes] = (b"\\Seen",)) -> None:
        """Store raw in folder (created when missing), e.g. a copy of sent mail."""
        client = self.client()
        with self._guard(f"Appending to IMAP folder {folder!r}"):
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=tuple(flags))

    def has_message_id(self, folder: str, message_id: str) -> bool:
        """Whether folder holds a message with this Message-ID (without angle brackets)."""
        client = self.client()
        with self._guard(f"Searching IMAP folder {folder!r}"):
            if not client.folder_exists(folder):
                return False
            self._selected = None  # the sync folder must be selected again before a fetch
            client.select_folder(folder, readonly=True)
            return bool(client.search(["HEADER", "Message-ID", f"<{message_id}>"]))

    def _select(self) -> dict[bytes, Any]:
        client = self.client()
        with self._guard(f"Opening IMAP folder {self.folder!r}", missing_is_permanent=True):
            self._selected = client.select_folder(self.folder)
        return self._selected

    # -- sync ------------------------------------------------------------------------------

    def fetch(self, cursor: Cursor) -> Fetch:
        """The messages after the cursor, oldest UID first, read in batches as iterated."""
        client = self.client()
        where = ImapCursor.from_json(cursor)
        uidvalidity = int(self._select()[b"UIDVALIDITY"])
        known = where.uidvalidity is not None
        resync = known and where.uidvalidity != uidvalidity
        after = where.last_uid if known and not resync and self.config.duplicate_check else 0
        keys = header_filter_to_search(self.config.header_filter)
        if after:
            keys += ["UID", f"{after + 1}:*"]
        if (not known or resync) and self.config.sync_since:
            keys += ["SINCE", _imap_date(self.config.sync_since)]
        with self._guard(f"Searching IMAP folder {self.folder!r}"):
            # "UID n:*" always matches the highest UID, even one below n.
            uids = sorted(uid for uid in client.search(" ".join(keys)) if uid > after)
        start = where.last_uid if known and not resync else 0
        fetch = Fetch(iter(()), total=len(uids), resync=resync)
        if uids:
            fetch.batches = self._read(uids, uidvalidity, start, fetch.skipped)
        elif where.uidvalidity != uidvalidity:
            # Nothing to store, but the folder's numbering must be remembered all the same.
            fetch.batches = iter([Batch([], ImapCursor(uidvalidity, start).to_json())])
        return fetch

    def _read(
        self, uids: list[int], uidvalidity: int, last_uid: int, skipped: list[SourcePosition]
    ) -> Iterator[Batch]:
        client = self.client()
        terms = parse_header_filter(self.config.header_filter)
        for planned in self._batches(uids):
            with self._guard(f"Fetching from IMAP folder {self.folder!r}"):
                found = client.fetch(planned, ["BODY.PEEK[]", "INTERNALDATE"])
            messages: list[RawMessage] = []
            for uid in planned:
                data = found.get(uid)
                if data is None or b"BODY[]" not in data:
                    continue  # expunged since the search
                raw = data[b"BODY[]"]
                position = SourcePosition("imap", self.folder, uidvalidity, str(uid))
                if matches(terms, raw):
                    messages.append(RawMessage(raw, position, _aware(data.get(b"INTERNALDATE"))))
                else:
                    skipped.append(position)
            # The refused ones are stepped over with the rest: everything up to here is
            # stored in the same commit as this cursor, and they never get an ack.
            last_uid = max(last_uid, *planned)
            stored = tuple(int(m.position.uid) for m in messages)
            yield Batch(messages, ImapCursor(uidvalidity, last_uid, stored).to_json())

    def _batches(self, uids: list[int]) -> Iterator[list[int]]:
        """The UIDs in batches of at most batch_size messages and batch_bytes bytes.

        Only the sizes of messages over batch_bytes / batch_size are read (found
        with one SEARCH LARGER); the rest cannot exceed the limit together.
        """
        if not uids:
            return
        client = self.client()
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

    def acknowledge(self, cursor: Cursor) -> Cursor:
        """Apply after_fetch to the stored UIDs the cursor still lists; harmless twice.

        UIDs of another UIDVALIDITY than the folder's now are dropped untouched:
        they name other messages.
        """
        where = ImapCursor.from_json(cursor)
        done = ImapCursor(where.uidvalidity, where.last_uid).to_json()
        action = self.config.after_fetch
        if not where.unacked or action == "leave":
            return done
        selected = self._selected or self._select()
        if int(selected[b"UIDVALIDITY"]) != where.uidvalidity:
            return done
        client = self.client()
        uids = list(where.unacked)
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
        return done

    def _expunge(self, uids: list[int]) -> None:
        client = self.client()
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()

    def _move(self, uids: list[int], target: str) -> None:
        client = self.client()
        if not client.folder_exists(target):
            client.create_folder(target)
        if client.has_capability("MOVE"):
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.delete_messages(uids, silent=True)
            self._expunge(uids)

    # -- push -------------------------------------------------------------------------------

    def can_wait(self) -> bool:
        return bool(self.client().has_capability("IDLE"))

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
        client = self.client()
        selected = self._selected or self._select()
        uidnext = int(selected.get(b"UIDNEXT", 0))
        if uidnext and self._arrived_since(uidnext):
            return True  # arrived before the wait began: no EXISTS will come for it
        deadline = time.monotonic() + seconds
        stopped = stop or (lambda: False)
        if not self.can_wait():
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
        client = self.client()
        with self._guard(f"Checking IMAP folder {self.folder!r} for new mail"):
            client.noop()  # Dovecot shows new messages to a session only after a sync
            take_announced_exists(client)
            found = any(uid >= uidnext for uid in client.search(f"UID {uidnext}:*"))
            # Mail arriving during the SEARCH is announced (EXISTS) with its reply but
            # is not in its result.
            return found or take_announced_exists(client)


def take_announced_exists(client: IMAPClient) -> bool:
    """Whether the server announced new messages (EXISTS) with the replies so far, forgetting it.

    IMAPClient has no public way to read untagged responses that arrived with
    another command's reply; imaplib keeps them in `untagged_responses`. This
    is the one place that reaches into it, and
    `test_imap.py::test_imaplib_still_keeps_announcements_where_we_read_them`
    breaks if imaplib stops doing so.
    """
    pending: dict[str, list[Any]] = client._imap.untagged_responses  # noqa: SLF001
    return pending.pop("EXISTS", None) is not None


class _Xoauth2:
    """The XOAUTH2 SASL exchange: the bearer string first, then an empty answer.

    On failure the server sends a JSON error as a challenge and waits for an
    empty reply before its NO; answering it again would hang or confuse it.
    """

    def __init__(self, username: str, credentials: TokenSource) -> None:
        self._username = username
        self._credentials = credentials
        self._sent = False

    def __call__(self, challenge: bytes) -> bytes:
        if self._sent:
            return b""
        self._sent = True
        return xoauth2_string(self._username, self._credentials.secret()).encode()


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


def _aware(value: object) -> dt.datetime | None:
    """An INTERNALDATE as an aware datetime (UTC when the server gave no zone)."""
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


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
