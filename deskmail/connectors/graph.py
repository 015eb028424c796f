"""Microsoft Graph: one mail folder by delta query, and sending MIME, for Exchange Online.

Reading (`GraphConnector`). A delta query on the folder
(`/users/{user}/mailFolders/{id}/messages/delta`, learn.microsoft.com/graph/delta-query-messages)
is followed page by page (`@odata.nextLink`) to its `@odata.deltaLink`, where the next
round starts. Only `changeType=created` is asked for: a message that newly appears in
the folder (delivered or moved in), never again because it was read, flagged or moved
out. The other entries are kept as the folder's own business: `@removed` ones, which
Graph sends for deletions when other change types are asked for, are counted and
ignored. As over IMAP, unread messages only are offered; a full enumeration (the first
sync, or a resync) also drops those received before `sync_since` (compared here, not
with `$filter`, which caps the enumeration at 5,000 messages).

Each message is read as MIME (`/messages/{id}/$value`, /graph/outlook-get-mime-message),
so the pipeline sees the bytes it would see over IMAP, and `arrived_at` is its
`receivedDateTime`. Its position is its immutable id (`Prefer: IdType="ImmutableId"`
on every request, see `graph_api`), which survives moves: a message offered again
after a resync is recognised.

The cursor (`GraphCursor`): the folder's id; the deltaLink of the last finished round;
in a round not yet finished, the link of the page being read and the ids of it already
stored (a page can be longer than one batch); and the ids stored but not yet
acknowledged (marked read, moved or deleted). A page is stored in batches of at most
`BATCH_BYTES`, each in one commit with the cursor past it. An expired delta or skip
token (410, /graph/delta-query-overview "Synchronization reset") starts a full
enumeration again with `resync=True`: nothing is lost, and what was stored is dropped
as a duplicate by its position.

Sending (`GraphSender`). `POST /users/{user}/sendMail` with the message as base64 MIME
(/graph/outlook-send-mime-message), so our Message-ID, In-Reply-To, References and
subject tag go out as written; the sent copy lands in the Sent Items of `{user}`,
which is the shared mailbox's for a shared mailbox (/graph/outlook-send-mail-from-other-user).
Exchange Online sends at most 30 messages a minute from one mailbox: past that, `send`
raises a temporary ConnectorError (with `retry_after`) and the outbox tries later.

Shared mailboxes: `user` is the shared address, and the token belongs to a user with
Full Access and Send As on it (delegated `Mail.ReadWrite.Shared`, `Mail.Send.Shared`),
or to an application granted the mailbox.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

from deskmail.connectors.base import Batch, Cursor, Fetch, RawMessage, Refused, SourcePosition
from deskmail.connectors.credentials import TokenSource
from deskmail.connectors.envelope import with_envelope
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.graph_api import MAX_CONCURRENT, GraphApi, GraphRefused
from deskmail.connectors.graph_notifications import ChangeNotifications, SubscriptionStore
from deskmail.connectors.session import Session
from deskmail.connectors.settings import InboundConfig, OutboundConfig
from deskmail.connectors.web import checked_url, reach_steps, requests_verify
from deskmail.mail.headerfilter import matches, parse_header_filter

log = logging.getLogger(__name__)

PAGE_SIZE = 100
# A batch also stops at about this many bytes, so big attachments cannot fill the memory.
BATCH_BYTES = 32 * 1024 * 1024
# Messages read (or acknowledged) at once: enough to keep the four request slots busy.
WINDOW = 2 * MAX_CONCURRENT
# Exchange Online's sending limit (exchange-online-limits, "Sending limits").
SEND_LIMIT_PER_MINUTE = 30
# How long a send may wait out Graph's throttling before the outbox is told to try later.
SEND_PATIENCE_S = 5.0
# How often a wait for new mail checks whether it should stop, or was woken.
STOP_CHECK_S = 0.25
# While waiting for notifications, the subscription is looked after this often.
ENSURE_EVERY_S = 60.0
# After a subscription could not be made, delta polling for this long before trying again.
RESUBSCRIBE_AFTER_S = 30 * 60.0
# Well-known folder names Graph accepts in place of an id (/graph/api/resources/mailfolder).
WELL_KNOWN_FOLDERS = frozenset(
    {"inbox", "archive", "clutter", "deleteditems", "drafts", "junkemail", "outbox",
     "sentitems", "msgfolderroot"}
)  # fmt: skip
_SELECT = "receivedDateTime,isRead"


@dataclass(frozen=True)
class GraphCursor:
    """How far the folder is stored; see the module docstring."""

    folder_id: str | None = None
    delta_link: str | None = None
    # A round in progress: the page being read, and whether the round enumerates the folder.
    link: str | None = None
    full: bool = False
    done: tuple[str, ...] = ()
    unacked: tuple[str, ...] = ()

    def to_json(self) -> Cursor:
        return {
            "folder_id": self.folder_id,
            "delta_link": self.delta_link,
            "link": self.link,
            "full": self.full,
            "done": list(self.done),
            "unacked": list(self.unacked),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> GraphCursor:
        value = value or {}
        return cls(
            folder_id=value.get("folder_id") or None,
            delta_link=value.get("delta_link") or None,
            link=value.get("link") or None,
            full=bool(value.get("full")),
            done=tuple(str(i) for i in value.get("done") or ()),
            unacked=tuple(str(i) for i in value.get("unacked") or ()),
        )


class _GraphSession(Session[GraphApi]):
    """What reading and sending share: the mailbox's Graph URL, user and token."""

    protocol = "Graph"
    config: InboundConfig | OutboundConfig

    def __init__(
        self,
        config: InboundConfig | OutboundConfig,
        credentials: TokenSource,
        *,
        ca_file: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(config, credentials, ca_file=ca_file)
        self.base_url = config.service_url() or ""
        self.host = urlsplit(self.base_url).hostname or ""
        self.sleep = sleep

    @property
    def user(self) -> str:
        """The mailbox read and sent from (`/users/{user}`): a shared mailbox's address."""
        return self.config.user or self.config.username or ""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.user} at {self.base_url}, "
            f"auth={self.credentials.mechanism})"
        )

    @property
    def where(self) -> str:
        return self.base_url

    def _connect(self) -> GraphApi:
        checked_url(self.base_url, self.config.security, "graph_url")
        if not self.user:
            raise ConnectorError(
                "Graph needs the mailbox to read: set user (a shared mailbox's address).",
                permanent=True,
            )
        if self.credentials.mechanism != "xoauth2":
            raise ConnectorError(
                "Graph signs in with OAuth2 only: set auth: oauth2 and an `oauth` section "
                "(application permissions) or an access token.",
                permanent=True,
                auth=True,
            )
        return GraphApi(
            self.base_url,
            self.user,
            self.credentials,
            verify=requests_verify(self.config.verify_certificate, self.ca_file),
            connect_timeout_s=self.config.connect_timeout_s,
            sleep=self.sleep,
        )

    def _logout(self, client: GraphApi) -> None:
        client.close()

    def _shutdown(self, client: GraphApi) -> None:
        client.close()

    def connection_steps(self) -> list[tuple[str, Callable[[], str]]]:
        c = self.config
        return [
            *reach_steps(self.base_url, c.verify_certificate, self.ca_file, c.connect_timeout_s),
            (f"sign in to Graph for {self.user}", self._signed_in),
        ]

    def _signed_in(self) -> str:
        self.login()
        return "signed in"


class GraphConnector(_GraphSession):
    """One mailbox folder read by delta query."""

    config: InboundConfig

    def __init__(
        self,
        config: InboundConfig,
        credentials: TokenSource,
        *,
        ca_file: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        super().__init__(config, credentials, ca_file=ca_file, sleep=sleep)
        self.page_size = page_size
        self.batch_bytes = batch_bytes
        self._folder: dict[str, Any] | None = None
        self._pool: ThreadPoolExecutor | None = None
        # `@removed` entries seen by this session: deletions are the folder's business.
        self.removals_ignored = 0
        self._notifications: ChangeNotifications | None = None
        # After a failed subscription, delta polling until then (monotonic seconds).
        self._subscribe_after = 0.0

    def _login(self, client: GraphApi) -> None:
        self._folder = self._find_folder(client, self.config.folder)

    def _forget(self) -> None:
        self._folder = None
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="graph")
        return self._pool

    # -- folders ------------------------------------------------------------------------------

    def _find_folder(self, api: GraphApi, name: str, *, create: bool = False) -> dict[str, Any]:
        """The folder named by a well-known name or a path like `Support/Done`."""
        if name.lower() in WELL_KNOWN_FOLDERS:
            found: dict[str, Any] = api.call(
                "GET", f"mailFolders/{name.lower()}", f"Opening the folder {name!r} of {self.user}"
            ).json()
            return found
        parent: dict[str, Any] | None = None
        for part in [p for p in name.split("/") if p]:
            children = self._child_folders(api, parent)
            match = next(
                (
                    f
                    for f in children
                    if str(f.get("displayName", "")).casefold() == part.casefold()
                ),
                None,
            )
            if match is None and create:
                match = self._create_folder(api, parent, part)
            if match is None:
                names = ", ".join(str(f.get("displayName")) for f in children)
                raise ConnectorError(
                    f"the folder {name!r} does not exist in {self.user}; there are: {names}",
                    permanent=True,
                )
            parent = match
        if parent is None:
            raise ConnectorError(f"{name!r} names no folder", permanent=True)
        return parent

    def _child_folders(self, api: GraphApi, parent: dict[str, Any] | None) -> list[dict[str, Any]]:
        path = (
            "mailFolders" if parent is None else f"mailFolders/{quote(parent['id'])}/childFolders"
        )
        doing = f"Listing the folders of {self.user}"
        folders: list[dict[str, Any]] = []
        url: str | None = path
        params: dict[str, str] | None = {"$top": "250"}
        while url:
            page = api.call("GET", url, doing, params=params).json()
            folders.extend(page.get("value") or [])
            url, params = page.get("@odata.nextLink"), None
        return folders

    def _create_folder(
        self, api: GraphApi, parent: dict[str, Any] | None, name: str
    ) -> dict[str, Any]:
        path = (
            "mailFolders" if parent is None else f"mailFolders/{quote(parent['id'])}/childFolders"
        )
        try:
            created: dict[str, Any] = api.call(
                "POST", path, f"Creating the folder {name!r} in {self.user}",
                json={"displayName": name},
            ).json()  # fmt: skip
        except GraphRefused as exc:
            if exc.failure.code != "ErrorFolderExists":
                raise
            return next(
                f for f in self._child_folders(api, parent)
                if str(f.get("displayName", "")).casefold() == name.casefold()
            )  # fmt: skip
        return created

    def _folder_info(self) -> dict[str, Any]:
        self.client()
        assert self._folder is not None
        return self._folder

    def count_messages(self) -> tuple[int, int]:
        """(messages, unread) in the folder, as Graph counts them now."""
        api = self.client()
        folder = api.call(
            "GET",
            f"mailFolders/{quote(self._folder_info()['id'])}",
            f"Counting the messages in {self.config.folder!r} of {self.user}",
        ).json()
        return int(folder.get("totalItemCount") or 0), int(folder.get("unreadItemCount") or 0)

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            (f"open the folder {self.config.folder!r}", self._check_folder),
            (f"count messages in {self.config.folder!r}", self._check_count),
        ]

    def _check_folder(self) -> str:
        folder = self._folder_info()
        return f"{folder.get('displayName')} found in {self.user}"

    def _check_count(self) -> str:
        total, unread = self.count_messages()
        return f"{total} messages, {unread} unread"

    # -- sync ---------------------------------------------------------------------------------

    def fetch(self, cursor: Cursor) -> Fetch:
        """The new messages after the cursor, page by page of the delta round, read as iterated."""
        api = self.client()
        folder = self._folder_info()
        where = GraphCursor.from_json(cursor)
        if where.folder_id not in (None, folder["id"]):
            # Another folder is configured now: its mail is new to us.
            where = GraphCursor(unacked=where.unacked)
        where = replace(where, folder_id=folder["id"])
        resync = False
        if where.link:
            link, full, done = where.link, where.full, set(where.done)
        elif where.delta_link:
            link, full, done = where.delta_link, False, set()
        else:
            link, full, done = self._initial_link(), True, set()
        try:
            page = self._page(api, link)
        except GraphRefused as exc:
            if exc.failure.status != 410:
                raise
            log.warning(
                "graph %s: the delta token expired (%s); reading the folder again",
                self.user,
                exc.failure.words,
            )
            resync, link, full, done = True, self._initial_link(), True, set()
            page = self._page(api, link)
        total = int(folder.get("unreadItemCount") or 0) if full else len(page.get("value") or [])
        fetch = Fetch(iter(()), total=total, resync=resync)
        fetch.batches = self._read(api, fetch, where, page, link, full, done)
        return fetch

    def _initial_link(self) -> str:
        folder_id = quote(self._folder_info()["id"])
        return (
            f"{self.base_url}/users/{quote(self.user, safe='@')}/mailFolders/{folder_id}"
            f"/messages/delta?changeType=created&$select={_SELECT}"
        )

    def _page(self, api: GraphApi, link: str) -> dict[str, Any]:
        doing = f"Reading changes in {self.config.folder!r} of {self.user} (delta)"
        page: dict[str, Any] = api.call(
            "GET", link, doing, prefer=f"odata.maxpagesize={self.page_size}"
        ).json()
        return page

    def _read(
        self,
        api: GraphApi,
        fetch: Fetch,
        where: GraphCursor,
        page: dict[str, Any],
        link: str,
        full: bool,
        done: set[str],
    ) -> Iterator[Batch]:
        terms = parse_header_filter(self.config.header_filter)
        since = _midnight(self.config.sync_since) if full else None
        restarted = fetch.resync
        while True:
            entries = page.get("value") or []
            removed = sum(1 for e in entries if "@removed" in e)
            if removed:
                self.removals_ignored += removed
                log.debug("graph %s: %d removed messages ignored", self.user, removed)
            wanted = [
                e for e in entries
                if "@removed" not in e and e.get("id") not in done and _wanted(e, since)
            ]  # fmt: skip
            batch: list[RawMessage] = []
            size = 0
            for start in range(0, len(wanted), WINDOW):
                window = wanted[start : start + WINDOW]
                for entry, raw in zip(window, self._mime(api, window), strict=True):
                    done.add(entry["id"])
                    if raw is None:
                        continue  # deleted since the delta page was read
                    position = SourcePosition("graph", self.config.folder, None, entry["id"])
                    if not matches(terms, raw):
                        fetch.skipped.append(position)
                        continue
                    arrived = _received(entry.get("receivedDateTime"))
                    batch.append(RawMessage(raw, position, arrived))
                    size += len(raw)
                if size >= self.batch_bytes and start + WINDOW < len(wanted):
                    # The page goes on: this part is stored with the page's link and what of
                    # it is done, so a restart reads the page again and skips those.
                    cursor = replace(
                        where, link=link, full=full, done=tuple(sorted(done)),
                        unacked=self._unacked(batch),
                    )  # fmt: skip
                    yield Batch(batch, cursor.to_json())
                    batch, size = [], 0
            next_link = page.get("@odata.nextLink")
            if next_link:
                cursor = replace(where, link=next_link, full=full, done=(), unacked=())
            else:
                delta_link = page.get("@odata.deltaLink") or where.delta_link
                cursor = GraphCursor(folder_id=where.folder_id, delta_link=delta_link)
            yield Batch(batch, replace(cursor, unacked=self._unacked(batch)).to_json())
            if not next_link:
                return
            link, done = next_link, set()
            try:
                page = self._page(api, link)
            except GraphRefused as exc:
                if exc.failure.status != 410 or restarted:
                    raise
                # A skip token expired in the middle of a round: read the folder again.
                log.warning(
                    "graph %s: the delta round expired (%s); reading the folder again",
                    self.user,
                    exc.failure.words,
                )
                restarted = fetch.resync = True
                link, full, done = self._initial_link(), True, set()
                since = _midnight(self.config.sync_since)
                page = self._page(api, link)

    def _unacked(self, batch: list[RawMessage]) -> tuple[str, ...]:
        if self.config.after_fetch == "leave":
            return ()
        return tuple(m.position.uid for m in batch)

    def _mime(self, api: GraphApi, entries: list[dict[str, Any]]) -> Iterable[bytes | None]:
        """Each message's MIME, in order, read by up to four requests at a time."""

        def read(entry: dict[str, Any]) -> bytes | None:
            try:
                return api.call(
                    "GET",
                    f"messages/{quote(entry['id'])}/$value",
                    f"Reading a message (MIME) from {self.user}",
                    headers={"Accept": "*/*"},
                ).content
            except GraphRefused as exc:
                if exc.failure.status == 404:
                    return None
                raise

        return list(self._workers().map(read, entries))

    def acknowledge(self, cursor: Cursor) -> Cursor:
        """Apply after_fetch to the stored messages the cursor lists; harmless twice."""
        where = GraphCursor.from_json(cursor)
        done = replace(where, unacked=()).to_json()
        action = self.config.after_fetch
        if not where.unacked or action == "leave":
            return done
        api = self.client()
        if action == "mark_seen":
            doing = f"Marking messages read in {self.user}"

            def act(message_id: str) -> None:
                api.call("PATCH", f"messages/{quote(message_id)}", doing, json={"isRead": True})

        elif action == "delete":
            doing = f"Deleting messages in {self.user}"

            def act(message_id: str) -> None:
                api.call("DELETE", f"messages/{quote(message_id)}", doing)

        else:
            name = action.removeprefix("move:")
            target = self._find_folder(api, name, create=True)["id"]
            doing = f"Moving messages to {name!r} in {self.user}"

            def act(message_id: str) -> None:
                api.call(
                    "POST", f"messages/{quote(message_id)}/move", doing,
                    json={"destinationId": target},
                )  # fmt: skip

        def gone_is_done(message_id: str) -> None:
            try:
                act(message_id)
            except GraphRefused as exc:
                if exc.failure.status != 404:  # deleted or moved away by someone: nothing to do
                    raise

        for _ in self._workers().map(gone_is_done, where.unacked):
            pass
        return done

    # -- waiting ------------------------------------------------------------------------------

    def notify_through(self, store: SubscriptionStore) -> None:
        """Be woken by Graph's change notifications, kept in `store`, when the mailbox has a
        `notifications_url` (see `graph_notifications`)."""
        if not self.config.notifications_url:
            return
        self._notifications = ChangeNotifications(
            self.client,
            self.user,
            lambda: str(self._folder_info()["id"]),
            self.config.notifications_url,
            store,
        )

    def close(self) -> None:
        super().close()
        if self._notifications is not None:
            self._notifications.store.close()

    def can_wait(self) -> bool:
        """Whether change notifications wake the sync (else the worker polls every poll_seconds)."""
        return self._notifications is not None and time.monotonic() >= self._subscribe_after

    def wait_for_new_mail(
        self,
        seconds: float,
        *,
        poll_every: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Wait up to seconds for new mail; True as soon as some may have come.

        With change notifications: until a notification wakes it (the subscription
        made or renewed first). Without: the folder's counts every poll_every
        (poll_seconds) seconds; the worker does not call this then, it runs a delta
        round every poll_seconds, which is as cheap.
        """
        stopped = stop or (lambda: False)
        deadline = time.monotonic() + seconds
        notifications = self._notifications
        if notifications is not None and self.can_wait():
            try:
                if notifications.ensure():
                    return True  # mail that came before the subscription has no notification
            except ConnectorError as exc:
                self._subscribe_after = time.monotonic() + RESUBSCRIBE_AFTER_S
                log.warning(
                    "graph %s: no change notifications (%s); polling every %d s",
                    self.user,
                    exc.message,
                    self.config.poll_seconds,
                )
                deadline = min(deadline, time.monotonic() + self.config.poll_seconds)
                _sleep_until(deadline, stopped)
                return False
            next_check = time.monotonic()
            while time.monotonic() < deadline and not stopped():
                if notifications.store.woken():
                    return True
                if time.monotonic() >= next_check:
                    try:
                        # A lifecycle event may have asked for something, or renewal is due.
                        if notifications.ensure():
                            return True
                    except ConnectorError as exc:
                        log.warning("graph %s: %s; syncing now", self.user, exc.message)
                        return False
                    next_check = time.monotonic() + ENSURE_EVERY_S
                time.sleep(min(STOP_CHECK_S, max(0.0, deadline - time.monotonic())))
            return False
        every = poll_every or float(self.config.poll_seconds)
        before = self.count_messages()
        next_poll = time.monotonic() + every
        while (left := deadline - time.monotonic()) > 0 and not stopped():
            time.sleep(min(STOP_CHECK_S, left, max(0.0, next_poll - time.monotonic())))
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + every
                if self.count_messages() != before:
                    return True
        return False


def _sleep_until(deadline: float, stopped: Callable[[], bool]) -> None:
    while (left := deadline - time.monotonic()) > 0 and not stopped():
        time.sleep(min(STOP_CHECK_S, left))


class GraphSender(_GraphSession):
    """Sends MIME as the mailbox `user` (the shared address for a shared mailbox)."""

    config: OutboundConfig

    def _login(self, client: GraphApi) -> None:
        self.credentials.secret()  # an app-only token is fetched (and checked) here

    def send(self, envelope_from: str, recipients: list[str], raw: bytes) -> Refused:
        """Send raw as it is (a Bcc added for envelope-only recipients); Graph reports no
        refused recipients, so the answer is always {}."""
        api = self.client()
        _send_slot(self.base_url, self.user)
        message = with_envelope(raw, recipients)
        try:
            api.call(
                "POST",
                "sendMail",
                f"Sending as {self.user}",
                data=base64.b64encode(message),
                headers={"Content-Type": "text/plain"},
                patience_s=SEND_PATIENCE_S,
            )
        except GraphRefused as exc:
            if exc.permanent:
                raise
            wait = exc.retry_after
            raise ConnectorError(
                f"Exchange Online is not taking mail from {self.user} right now "
                f"({exc.failure.words}); trying again"
                + (f" in {wait:.0f} s." if wait else " later."),
                permanent=False,
                server_reply=exc.server_reply,
                retry_after=wait,
            ) from None
        _sent(self.base_url, self.user)
        return {}


_sends_lock = threading.Lock()
_sends: dict[tuple[str, str], deque[float]] = {}


def _send_slot(base_url: str, user: str) -> None:
    """Raise a temporary ConnectorError when the mailbox sent its 30 this minute (this process)."""
    key = (urlsplit(base_url).netloc.lower(), user.lower())
    now = time.monotonic()
    with _sends_lock:
        times = _sends.setdefault(key, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) < SEND_LIMIT_PER_MINUTE:
            return
        wait = times[0] + 60 - now
    raise ConnectorError(
        f"{user} sent {SEND_LIMIT_PER_MINUTE} messages in the last minute, Exchange Online's "
        f"limit; the next can go in {wait:.0f} s.",
        permanent=False,
        retry_after=wait,
    )


def _sent(base_url: str, user: str) -> None:
    key = (urlsplit(base_url).netloc.lower(), user.lower())
    with _sends_lock:
        _sends.setdefault(key, deque()).append(time.monotonic())


def _wanted(entry: Mapping[str, Any], since: dt.datetime | None) -> bool:
    if entry.get("isRead"):
        return False
    if since is None:
        return True
    received = _received(entry.get("receivedDateTime"))
    return received is None or received >= since


def _received(value: object) -> dt.datetime | None:
    """An ISO 8601 receivedDateTime (`2026-11-23T09:00:00Z`) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time(), dt.UTC) if day else None
