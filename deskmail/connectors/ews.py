"""Exchange Web Services, for on-premises Exchange Server (2007 SP1 and later), through exchangelib.

Exchange Online blocks EWS from October 2026 and turns it off in April 2027: for it,
use Graph (`graph.py`). This connector is for Exchange Server in a company's own
rooms, at its EWS URL (typically `https://mail.example.com/EWS/Exchange.asmx`;
autodiscover is not used).

Reading (`EwsConnector`). `SyncFolderItems` on the folder, page by page
(syncfolderitems-operation): each page's `Create` changes are the messages that
newly appeared in the folder; updates, read-flag changes and deletions are the
folder's own business. As over IMAP, unread messages only are offered, and a full
enumeration (the first sync, or a resync) drops those received before `sync_since`.
Each message is read as MIME (`GetItem` with `item:MimeContent`), the bytes the
pipeline would get over IMAP; its position is its item id.

The cursor (`EwsCursor`) is the folder's id and the sync state after the last stored
page (opaque, Exchange's own); a page longer than one batch is stored in parts, with
the state it was asked from and the ids of it already stored; and the ids stored but
not yet acknowledged. A sync state the server no longer knows
(`ErrorInvalidSyncStateData`) starts over with `resync=True`: everything is offered
again and the store recognises it by position.

After fetch, as for IMAP: mark read (`UpdateItem` of `message:IsRead`), move to a
folder that must exist, delete (`SoftDelete`: recoverable, as Outlook's Shift+Delete
is), or leave. New mail is noticed by polling: a pull subscription is polled too, and
a `SyncFolderItems` that finds nothing costs the same single request.

Sending (`EwsSender`): `CreateItem` of our MIME with `SendAndSaveCopy`, the copy saved in
the Sent Items of the mailbox `user` (a shared mailbox's, for one).

Logging in: NTLM or Basic as the server offers (NTLM preferred), with `username` as
`DOMAIN\\user` or the whole address, over TLS; or an OAuth2 bearer token where the
server accepts one (hybrid modern authentication), from the token source.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests
from exchangelib import DELEGATE, OAUTH2, Account, Configuration, Credentials, Message
from exchangelib.credentials import OAuth2Credentials
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorFolderNotFound,
    ErrorInvalidSyncStateData,
    ErrorItemNotFound,
    ErrorNonExistentMailbox,
    ErrorSendAsDenied,
    ErrorServerBusy,
    EWSError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.items import ID_ONLY, SOFT_DELETE
from exchangelib.protocol import BaseProtocol, FailFast, FaultTolerance, Protocol
from exchangelib.services import SyncFolderItems
from oauthlib.oauth2.rfc6749.errors import InsecureTransportError  # type: ignore[import-untyped]

from deskmail.connectors.base import Batch, Cursor, Fetch, RawMessage, Refused, SourcePosition
from deskmail.connectors.credentials import TokenSource
from deskmail.connectors.envelope import with_envelope
from deskmail.connectors.errors import ConnectorError, login_failed
from deskmail.connectors.session import Session
from deskmail.connectors.settings import InboundConfig, OutboundConfig
from deskmail.connectors.web import checked_url, reach_steps, requests_verify
from deskmail.mail.headerfilter import matches, parse_header_filter

log = logging.getLogger(__name__)

# Changes asked for in one SyncFolderItems (Exchange returns at most 512).
PAGE_SIZE = 200
# Messages read by one GetItem.
MIME_CHUNK = 25
# A batch also stops at about this many bytes, so big attachments cannot fill the memory.
BATCH_BYTES = 32 * 1024 * 1024
# exchangelib waits out ErrorServerBusy and dropped connections for up to this long.
SYNC_PATIENCE_S = 120
_PERMANENT = (ErrorAccessDenied, ErrorNonExistentMailbox, ErrorFolderNotFound, ErrorSendAsDenied)
_PERMANENT_CODES = frozenset(
    {"ErrorInvalidRecipients", "ErrorMimeContentConversionFailed", "ErrorMessageSizeExceeded",
     "ErrorInvalidIdMalformed", "ErrorAccountDisabled", "ErrorMailboxMoveInProgress"}
)  # fmt: skip
_INBOX_NAMES = frozenset({"inbox"})


@dataclass(frozen=True)
class EwsCursor:
    """How far the folder is stored; see the module docstring."""

    folder_id: str | None = None
    sync_state: str | None = None
    # True while the enumeration that began without a sync state is not finished.
    full: bool = False
    done: tuple[str, ...] = ()
    unacked: tuple[str, ...] = ()

    def to_json(self) -> Cursor:
        return {
            "folder_id": self.folder_id,
            "sync_state": self.sync_state,
            "full": self.full,
            "done": list(self.done),
            "unacked": list(self.unacked),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> EwsCursor:
        value = value or {}
        return cls(
            folder_id=value.get("folder_id") or None,
            sync_state=value.get("sync_state") or None,
            full=bool(value.get("full")),
            done=tuple(str(i) for i in value.get("done") or ()),
            unacked=tuple(str(i) for i in value.get("unacked") or ()),
        )


# -- TLS for exchangelib --------------------------------------------------------------------

_verify_lock = threading.Lock()
_verify: dict[str, bool | str] = {}


class _VerifyingAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter (one class for the process), told per EWS server how to
    verify it: our CA bundle, the system's, or not at all when the mailbox says so."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        with _verify_lock:
            verify = _verify.get(urlsplit(request.url or "").netloc.lower())
        if verify is not None:
            kwargs["verify"] = verify
        return super().send(request, *args, **kwargs)


BaseProtocol.HTTP_ADAPTER_CLS = _VerifyingAdapter


class _TokenCredentials(OAuth2Credentials):  # type: ignore[misc]
    """An OAuth2 bearer token from our token source, asked again whenever a session is made
    (exchangelib makes one after a 401): no client secret here, nothing refreshed by it."""

    def __init__(self, source: TokenSource) -> None:
        super().__init__(client_id="deskmail", client_secret=None)
        self._source = source

    def session_params(self) -> dict[str, Any]:
        self.access_token = {"access_token": self._source.secret(), "token_type": "Bearer"}
        params: dict[str, Any] = super().session_params()
        return params


# -- the connection -------------------------------------------------------------------------


class _EwsSession(Session[Account]):
    """What reading and sending share: the EWS URL, the account and its login."""

    protocol = "EWS"
    config: InboundConfig | OutboundConfig
    patience_s: float | None = SYNC_PATIENCE_S

    def __init__(
        self,
        config: InboundConfig | OutboundConfig,
        credentials: TokenSource,
        *,
        ca_file: str | None = None,
    ) -> None:
        super().__init__(config, credentials, ca_file=ca_file)
        self.url = config.service_url() or ""
        self.host = urlsplit(self.url).hostname or ""

    @property
    def user(self) -> str:
        """The mailbox opened: a shared mailbox's address, else the login's own address."""
        return self.config.user or self.config.username or ""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.config.username} for {self.user} at {self.url}, "
            f"auth={self.credentials.mechanism})"
        )

    @property
    def where(self) -> str:
        return self.url

    def _connect(self) -> Account:
        checked_url(self.url, self.config.security, "ews_url")
        if "@" not in self.user:
            raise ConnectorError(
                "EWS needs the mailbox's address: set user (or a username that is an address).",
                permanent=True,
            )
        with _verify_lock:
            _verify[urlsplit(self.url).netloc.lower()] = requests_verify(
                self.config.verify_certificate, self.ca_file
            )
        retry = FailFast()  # see _login
        if self.oauth:
            config = Configuration(
                service_endpoint=self.url,
                credentials=_TokenCredentials(self.credentials),
                auth_type=OAUTH2,
                retry_policy=retry,
            )
        else:
            config = Configuration(
                service_endpoint=self.url,
                credentials=Credentials(
                    self.config.username or self.user, self.credentials.secret()
                ),
                retry_policy=retry,
            )
        with self._errors(f"Connecting to EWS at {self.url}"):
            return Account(self.user, config=config, autodiscover=False, access_type=DELEGATE)

    def _login(self, client: Account) -> None:
        # exchangelib's FaultTolerance takes a 401 for throttling and waits it out: the login
        # is made failing fast, so that a refused password says so at once.
        config = client.protocol.config
        config.retry_policy = FailFast()
        with self._errors(f"Logging in to EWS at {self.url} as {self.config.username}"):
            client.msg_folder_root  # noqa: B018 - GetFolder: the first authenticated request
        if self.patience_s:
            config.retry_policy = FaultTolerance(max_wait=self.patience_s)

    def _logout(self, client: Account) -> None:
        self._shutdown(client)

    def _shutdown(self, client: Account) -> None:
        # exchangelib keeps one Protocol (its sessions) per URL and login for the process;
        # it is dropped with the session so that a changed password or a failure is not kept.
        with suppress(Exception):
            client.protocol.close()
        with suppress(KeyError):
            del Protocol[client.protocol.config]

    def connection_steps(self) -> list[tuple[str, Callable[[], str]]]:
        c = self.config
        who = c.username or self.user
        return [
            *reach_steps(self.url, c.verify_certificate, self.ca_file, c.connect_timeout_s),
            (f"log in as {who}", self._check_login),
        ]

    def _check_login(self) -> str:
        self.login()
        version = self.client().version
        build = version.build if version is not None else None
        return f"logged in (Exchange {version.api_version}, build {build})" if version else "ok"

    @contextmanager
    def _errors(self, doing: str, passing: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
        """Turn what exchangelib raises into a ConnectorError with the server's words
        (except the `passing` ones, for the caller to handle)."""
        try:
            yield
        except ConnectorError:
            raise
        except Exception as exc:
            if isinstance(exc, passing):
                raise
            translated = self._translated(doing, exc)
            if translated is None:
                raise
            raise translated from None

    def _translated(self, doing: str, exc: Exception) -> ConnectorError | None:
        if isinstance(exc, InsecureTransportError):
            return ConnectorError(
                f"{doing}: OAuth2 needs https; the EWS URL is {self.url}.", permanent=True
            )
        if isinstance(exc, UnauthorizedError):
            who = self.config.username or self.user
            return login_failed("EWS", who, str(exc) or "Unauthorized", oauth=self.oauth)
        if isinstance(exc, ResponseMessageError):
            return _refusal(doing, exc, self.user)
        if isinstance(exc, TransportError):
            return ConnectorError(f"{doing}: {exc}", permanent=False, server_reply=str(exc))
        if isinstance(exc, EWSError):
            return ConnectorError(f"{doing}: {exc}", permanent=True, server_reply=str(exc))
        return None


def _refusal(doing: str, exc: ResponseMessageError, user: str) -> ConnectorError:
    code = type(exc).__name__
    words = f"{code}: {exc}"
    if isinstance(exc, ErrorServerBusy):
        wait = float(getattr(exc, "back_off", 0) or 0) or None
        return ConnectorError(
            f"{doing}: Exchange is busy ({words}); will try again.",
            permanent=False,
            server_reply=words,
            retry_after=wait,
        )
    if isinstance(exc, ErrorAccessDenied | ErrorSendAsDenied):
        return ConnectorError(
            f"{doing}: Exchange denied access to {user} ({words}). Check that the account has "
            "Full Access (and Send As, for sending) on the mailbox.",
            permanent=True,
            server_reply=words,
            auth=True,
        )
    permanent = isinstance(exc, _PERMANENT) or code in _PERMANENT_CODES
    return ConnectorError(
        f"{doing}: Exchange said: {words}", permanent=permanent, server_reply=words
    )


# -- reading --------------------------------------------------------------------------------


class EwsConnector(_EwsSession):
    """One mailbox folder read by SyncFolderItems."""

    config: InboundConfig

    def __init__(
        self,
        config: InboundConfig,
        credentials: TokenSource,
        *,
        ca_file: str | None = None,
        page_size: int = PAGE_SIZE,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        super().__init__(config, credentials, ca_file=ca_file)
        self.page_size = page_size
        self.batch_bytes = batch_bytes
        self._folder: Any = None

    def _forget(self) -> None:
        self._folder = None

    def folder(self) -> Any:
        """The configured folder: the inbox, or a path under the top of the store."""
        if self._folder is None:
            account = self.client()
            self._folder = self._find(account, self.config.folder)
        return self._folder

    def _find(self, account: Account, name: str) -> Any:
        with self._errors(f"Opening the folder {name!r} of {self.user}"):
            if name.lower() in _INBOX_NAMES:
                return account.inbox
            folder: Any = account.msg_folder_root
            for part in [p for p in name.split("/") if p]:
                children = list(folder.children)
                match = next((f for f in children if f.name.casefold() == part.casefold()), None)
                if match is None:
                    names = ", ".join(sorted(str(f.name) for f in account.msg_folder_root.children))
                    raise ConnectorError(
                        f"the folder {name!r} does not exist in {self.user}; there are: {names}",
                        permanent=True,
                    )
                folder = match
            return folder

    def count_messages(self) -> tuple[int, int]:
        """(messages, unread) in the folder, as Exchange counts them now."""
        folder = self.folder()
        with self._errors(f"Counting the messages in {self.config.folder!r}"):
            folder.refresh()
            return int(folder.total_count or 0), int(folder.unread_count or 0)

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            (f"open the folder {self.config.folder!r}", self._check_folder),
            (f"count messages in {self.config.folder!r}", self._check_count),
        ]

    def _check_folder(self) -> str:
        return f"{self.folder().name} found in {self.user}"

    def _check_count(self) -> str:
        total, unread = self.count_messages()
        return f"{total} messages, {unread} unread"

    def fetch(self, cursor: Cursor) -> Fetch:
        folder = self.folder()
        where = EwsCursor.from_json(cursor)
        if where.folder_id not in (None, folder.id):
            where = EwsCursor(unacked=where.unacked)  # another folder is configured now
        where = replace(where, folder_id=folder.id)
        full = where.full or where.sync_state is None
        resync = False
        try:
            page = self._page(where.sync_state)
        except ErrorInvalidSyncStateData as exc:
            log.warning(
                "ews %s: the sync state is gone (%s); reading the folder again", self.user, exc
            )
            resync, full = True, True
            where = replace(where, sync_state=None, done=())
            page = self._page(None)
        fetch = Fetch(iter(()), total=len(page.creates), resync=resync)
        fetch.batches = self._read(fetch, where, page, full)
        return fetch

    def _page(self, sync_state: str | None) -> _Page:
        folder = self.folder()
        account = self.client()
        service = SyncFolderItems(account=account)
        fields = {f for f in folder.normalize_fields(fields=["is_read", "datetime_received"])}
        doing = f"Reading changes in {self.config.folder!r} of {self.user}"
        with self._errors(doing, passing=(ErrorInvalidSyncStateData,)):
            changes = list(
                service.call(
                    folder=folder,
                    shape=ID_ONLY,
                    additional_fields=fields,
                    sync_state=sync_state,
                    ignore=None,
                    max_changes_returned=self.page_size,
                    sync_scope=None,
                )
            )
        creates = [item for kind, item in changes if kind == SyncFolderItems.CREATE]
        new_state = service.sync_state
        # exchangelib's own loop stops when the state does not move, whatever the flag says.
        last = bool(service.includes_last_item_in_range) or new_state == sync_state
        return _Page(sync_state, new_state, last, creates)

    def _read(self, fetch: Fetch, where: EwsCursor, page: _Page, full: bool) -> Iterator[Batch]:
        terms = parse_header_filter(self.config.header_filter)
        since = _midnight(self.config.sync_since)
        restarted = fetch.resync
        done = set(where.done) if page.asked == where.sync_state else set()
        while True:
            wanted = [
                item for item in page.creates
                if item.id not in done and _wanted(item, since if full else None)
            ]  # fmt: skip
            batch: list[RawMessage] = []
            size = 0
            for start in range(0, len(wanted), MIME_CHUNK):
                chunk = wanted[start : start + MIME_CHUNK]
                for item, raw in zip(chunk, self._mime(chunk), strict=True):
                    done.add(item.id)
                    if raw is None:
                        continue  # gone since the page was read
                    position = SourcePosition("ews", self.config.folder, None, item.id)
                    if not matches(terms, raw):
                        fetch.skipped.append(position)
                        continue
                    batch.append(RawMessage(raw, position, _aware(item.datetime_received)))
                    size += len(raw)
                if size >= self.batch_bytes and start + MIME_CHUNK < len(wanted):
                    cursor = replace(
                        where, sync_state=page.asked, full=full, done=tuple(sorted(done)),
                        unacked=self._unacked(batch),
                    )  # fmt: skip
                    yield Batch(batch, cursor.to_json())
                    batch, size = [], 0
            full = full and not page.last
            where = replace(where, sync_state=page.state, full=full, done=(), unacked=())
            yield Batch(batch, replace(where, unacked=self._unacked(batch)).to_json())
            if page.last:
                return
            done = set()
            try:
                page = self._page(page.state)
            except ErrorInvalidSyncStateData as exc:
                if restarted:
                    raise ConnectorError(
                        f"Exchange forgets the sync state of {self.config.folder!r}: {exc}",
                        permanent=False,
                    ) from None
                log.warning("ews %s: the sync state is gone (%s); reading again", self.user, exc)
                restarted = fetch.resync = True
                full = True
                page = self._page(None)

    def _unacked(self, batch: list[RawMessage]) -> tuple[str, ...]:
        if self.config.after_fetch == "leave":
            return ()
        return tuple(m.position.uid for m in batch)

    def _mime(self, items: list[Any]) -> list[bytes | None]:
        account = self.client()
        with self._errors(f"Reading messages (MIME) from {self.user}"):
            found = list(
                account.fetch(
                    ids=[(item.id, item.changekey) for item in items],
                    folder=self.folder(),
                    only_fields=["mime_content"],
                )
            )
        contents: list[bytes | None] = []
        for result in found:
            if isinstance(result, ErrorItemNotFound):
                contents.append(None)
            elif isinstance(result, Exception):
                with self._errors(f"Reading a message (MIME) from {self.user}"):
                    raise result
            else:
                contents.append(bytes(result.mime_content or b""))
        return contents

    def acknowledge(self, cursor: Cursor) -> Cursor:
        """Apply after_fetch to the stored items the cursor lists; harmless twice."""
        where = EwsCursor.from_json(cursor)
        done = replace(where, unacked=()).to_json()
        action = self.config.after_fetch
        if not where.unacked or action == "leave":
            return done
        account = self.client()
        ids = [(item_id, None) for item_id in where.unacked]
        with self._errors(f"{action} in {self.config.folder!r} of {self.user}"):
            if action == "mark_seen":
                items = [
                    (
                        Message(account=account, id=item_id, changekey=None, is_read=True),
                        ["is_read"],
                    )
                    for item_id in where.unacked
                ]
                results = list(account.bulk_update(items=items))
            elif action == "delete":
                results = list(account.bulk_delete(ids=ids, delete_type=SOFT_DELETE))
            else:
                target = self._find(account, action.removeprefix("move:"))
                results = list(account.bulk_move(ids=ids, to_folder=target))
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, ErrorItemNotFound):
                    raise result  # an item gone meanwhile needs nothing
        return done

    def can_wait(self) -> bool:
        return False

    def wait_for_new_mail(self, seconds: float, *, stop: Callable[[], bool] | None = None) -> bool:
        raise ConnectorError(
            "EWS is polled: the worker runs a sync every poll_seconds", permanent=True
        )


@dataclass(frozen=True)
class _Page:
    asked: str | None  # the sync state the page was asked from
    state: str | None  # the sync state after it
    last: bool
    creates: list[Any]


# -- sending --------------------------------------------------------------------------------


class EwsSender(_EwsSession):
    """Sends MIME from the mailbox `user`, saving the copy in its Sent Items."""

    config: OutboundConfig
    patience_s = 30

    def send(self, envelope_from: str, recipients: list[str], raw: bytes) -> Refused:
        """Send raw as it is (a Bcc added for envelope-only recipients); {} once accepted."""
        account = self.client()
        message = with_envelope(raw, recipients)
        with self._errors(f"Sending as {self.user}"):
            Message(account=account, folder=account.sent, mime_content=message).send_and_save()
        return {}


def _wanted(item: Any, since: dt.datetime | None) -> bool:
    if item.is_read:
        return False
    received = _aware(item.datetime_received)
    return since is None or received is None or received >= since


def _aware(value: object) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(moment.timestamp(), dt.UTC)


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time(), dt.UTC) if day else None
