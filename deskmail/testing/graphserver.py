"""A fake Microsoft Graph v1.0 mail API on 127.0.0.1, for tests and benchmarks.

Nothing Microsoft can be reached from the test machines, so the Graph connector is tested
against this server: stdlib `http.server` in a thread, state in memory, one lock. It speaks
the documented protocol closely enough that a client written against the documents works
against it unchanged; where it simplifies, the endpoint's entry below says so.

Each endpoint and the Microsoft document it follows (under https://learn.microsoft.com/en-us):

- Bearer check and error bodies: /graph/errors ("Error resource type", "Code property").
- `GET /users/{id}/mailFolders/{folder}/messages/delta`: /graph/api/message-delta;
  /graph/delta-query-messages ("Use query parameters in a delta query for messages",
  "Example 1"); /graph/delta-query-overview ("State tokens", "Synchronization reset",
  "Token duration"). The expired-token body is the one Exchange Online sends
  (410, `SyncStateNotFound`).
- `Prefer: IdType="ImmutableId"`: /graph/outlook-immutable-id ("How it works",
  "Lifetime of immutable IDs"); without it, a message's id changes when it moves.
- `GET .../messages/{id}` and `.../messages/{id}/$value`: /graph/api/message-get;
  /graph/outlook-get-mime-message (the MIME is served as `text/plain`).
- `PATCH .../messages/{id}`: /graph/api/message-update (only `isRead`).
- `POST .../messages/{id}/move`: /graph/api/message-move (201 and the moved message).
- `DELETE .../messages/{id}`: /graph/api/message-delete (204; the message goes to the
  `recoverableitemsdeletions` folder, not to Deleted Items).
- `GET/POST /users/{id}/mailFolders`, `.../mailFolders/{id}/childFolders`:
  /graph/api/user-list-mailfolders; /graph/api/mailfolder-list-childfolders;
  /graph/api/user-post-mailfolders.
- `POST /users/{id}/sendMail`: /graph/api/user-sendmail ("Example 4: Send a new message
  using MIME format"); /graph/outlook-send-mime-message. The sent copy lands in the Sent
  Items of the mailbox the URL names; a `From` other than that mailbox is 403
  `ErrorSendAsDenied`.
- `POST/GET/PATCH/DELETE /subscriptions`: /graph/api/subscription-post-subscriptions;
  /graph/change-notifications-delivery-webhooks ("notificationUrl validation", "Receive
  notifications"); /graph/change-notifications-lifecycle-events;
  /graph/change-notifications-overview ("Subscription lifetime").
- 429 with `Retry-After`: /graph/throttling; /graph/throttling-limits ("Outlook service
  limits": 4 concurrent requests, answered `ApplicationThrottled`).
- 30 messages a minute: /office365/servicedescriptions/exchange-online-service-description/
  exchange-online-limits ("Sending limits").

Simplifications, on purpose:

- Tokens are opaque strings checked by a validator callable, not JWTs; the default validator
  knows the tokens `issue_token` handed out, and `introspected_by(TokenServer.introspect)`
  trusts the tokens the suite's token server issues for the tenant, as Graph trusts Entra ID's
  (its entry says which documents it follows).
- Permissions: a delegated user has their own mailbox through the token's scopes
  (`Mail.Read`, `Mail.ReadWrite`, `Mail.Send`); another mailbox needs the `.Shared` scope and
  a `grant` of `FullAccess` (read, write) or `SendAs` (send). An application needs the
  application permission in its token (`Mail.Read`, `Mail.ReadWrite`, `Mail.Send`) and the same
  permission granted on the mailbox (Exchange's RBAC for Applications scope). Anything else is
  403 `ErrorAccessDenied`.
- Messages keep their raw MIME as delivered; summary properties are read from its headers.
  The body, attachments and `$expand` are not served.
- Delta and skip tokens live in memory until `expire_delta_tokens`, and each can be followed
  again (a client that crashed after a request repeats it): the same skip token gives the same
  page, the same delta token the changes since it was issued. Microsoft documents no single use,
  and answers that a skipToken "just references the page"
  (learn.microsoft.com/answers/questions/371729). A removal is reported with reason `deleted`
  for a deleted message and `changed` for one moved to another folder.
- Exchange Online delays mail past the 30-a-minute rate rather than refusing it; the fake
  answers 429 with `Retry-After` instead, so a client's back-off path can be tested.
- The concurrency limit (4) is counted per caller and mailbox, as the limit was documented
  before Microsoft moved it to per app; `hold_requests` keeps requests inside so a test can
  fill it without timing.
- Notifications are POSTed once with a 3-second timeout and not retried; a plain `http`
  notification URL is accepted (Graph requires `https`).
- Subscription lifetime is capped at `max_subscription_minutes`, 4230 for messages as the
  "Subscription lifetime" table gives it; newer revisions of that page allow 10,080 minutes for
  notifications without resource data, so a client that stays under 4230 is safe with both.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import math
import queue
import re
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from deskmail.testing.loopback import LoopbackHTTPServer

Json = dict[str, Any]

WELL_KNOWN_FOLDERS = {
    "msgfolderroot": "Top of Information Store",
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "recoverableitemsdeletions": "Deletions",
}
# Folders that are not listed under the top of the information store.
_HIDDEN_FOLDERS = {"msgfolderroot", "recoverableitemsdeletions"}

MESSAGE_PROPERTIES = (
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "parentFolderId",
    "conversationId",
    "isRead",
    "isDraft",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
)

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")

_DEFAULT_PAGE_SIZE = 10  # message delta pages hold 10 unless `Prefer: odata.maxpagesize` says
_NOTIFICATION_TIMEOUT = 3.0  # Graph publishes notifications with a 3-second timeout


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for: a user (delegated) or an application, and its scopes."""

    subject: str
    scopes: frozenset[str]
    application: bool = False


TokenValidator = Callable[[str], Principal | None]

GRAPH_RESOURCE = "https://graph.microsoft.com/"


def introspected_by(
    introspect: Callable[[str], Mapping[str, object]],
    app_permissions: Iterable[str] = (),
) -> TokenValidator:
    """A validator trusting the tokens an authorization server issued, asked through its
    RFC 7662 introspection (e.g. `TokenServer.introspect`): the fake's stand-in for Graph
    accepting the access tokens of the tenant's token endpoint.

    Follows learn.microsoft.com/en-us/entra/identity-platform/access-tokens ("Validate
    tokens"; the `scp` and `roles` claims) and /entra/identity-platform/scopes-oidc
    ("Scopes and permissions"): a client asks for `https://graph.microsoft.com/Mail.Send`,
    and the token Graph receives names the permission without the resource, `Mail.Send`.
    A delegated token speaks for the signed-in user; one asked with `/.default` by client
    credentials speaks for the application, with `app_permissions` as its roles.
    """

    def validate(token: str) -> Principal | None:
        found = introspect(token)
        if not found.get("active") or not found.get("username"):
            return None
        scopes = str(found.get("scope") or "").split()
        if any(scope.endswith("/.default") for scope in scopes):
            subject = str(found.get("client_id") or "")
            return Principal(subject, frozenset(app_permissions), application=True)
        permissions = frozenset(scope.removeprefix(GRAPH_RESOURCE) for scope in scopes)
        return Principal(str(found["username"]).lower(), permissions)

    return validate


@dataclass(frozen=True)
class StoredMessage:
    """A message as the fake holds it, for assertions."""

    id: str  # the immutable id
    raw: bytes
    is_read: bool
    received: datetime


@dataclass(frozen=True)
class SentMail:
    """A message the fake sent: from which mailbox, to whom, and the bytes."""

    mailbox: str
    recipients: tuple[str, ...]
    raw: bytes


@dataclass(frozen=True)
class NotificationAttempt:
    """One POST of a notification batch: where, what, and the receiver's status (0: no answer)."""

    url: str
    body: Json
    status: int


@dataclass
class _Folder:
    id: str
    display_name: str
    parent_id: str
    well_known: str | None = None


@dataclass
class _Message:
    immutable_id: str
    rest_id: str
    folder_id: str
    raw: bytes
    received: datetime
    is_read: bool
    entered_seq: int  # when it appeared in its current folder
    changed_seq: int
    change_key: str
    created: datetime
    modified: datetime
    headers: Json


@dataclass
class _Removal:
    seq: int
    folder_id: str
    rest_id: str
    immutable_id: str
    reason: str


@dataclass
class _Mailbox:
    address: str
    user_id: str
    folders: dict[str, _Folder] = field(default_factory=dict)
    messages: dict[str, _Message] = field(default_factory=dict)
    removals: list[_Removal] = field(default_factory=list)
    sends: deque[float] = field(default_factory=deque)


@dataclass
class _DeltaRound:
    mailbox: str
    folder_id: str
    select: tuple[str, ...] | None
    change_type: str | None
    received_filter: tuple[str, datetime] | None
    newest_first: bool
    page_size: int
    since: int | None  # None: the initial round
    high: int = 0
    # The round's changes, ("message" | reason, immutable id), shared by its pages; the page a
    # token names starts at `offset`.
    pending: list[tuple[str, str]] | None = None
    offset: int = 0


@dataclass
class _Subscription:
    id: str
    owner: str
    application_id: str
    mailbox: str
    folder_id: str | None  # None: every folder
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    immutable_ids: bool


class GraphError(Exception):
    """An error answer: status, Graph's error code and message, extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    value = text.strip().strip("'")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def _address_json(name: str, address: str) -> Json:
    return {"emailAddress": {"name": name or address, "address": address}}


def header_summary(raw: bytes) -> Json:
    """The message properties Graph derives from the MIME headers."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)

    def text(name: str) -> str:
        try:
            value = headers.get(name)
        except (ValueError, IndexError):  # a header the parser cannot decode
            return ""
        return str(value) if value is not None else ""

    def addresses(name: str) -> list[Json]:
        return [_address_json(n, a) for n, a in email.utils.getaddresses([text(name)]) if "@" in a]

    sent: str | None = None
    try:
        date = email.utils.parsedate_to_datetime(text("Date")) if text("Date") else None
        sent = _iso(date if date.tzinfo else date.replace(tzinfo=UTC)) if date else None
    except (TypeError, ValueError):
        sent = None
    authors = addresses("From")
    senders = addresses("Sender") or authors
    content_type = text("Content-Type").lower()
    return {
        "subject": text("Subject"),
        "internetMessageId": text("Message-ID"),
        "sentDateTime": sent,
        "from": authors[0] if authors else None,
        "sender": senders[0] if senders else None,
        "toRecipients": addresses("To"),
        "ccRecipients": addresses("Cc"),
        "bccRecipients": addresses("Bcc"),
        "replyTo": addresses("Reply-To"),
        "hasAttachments": content_type.startswith("multipart/mixed"),
    }


def strip_header(raw: bytes, name: bytes) -> bytes:
    """`raw` without the header `name` (and its continuation lines), the body untouched."""
    end = raw.find(b"\r\n\r\n")
    separator = 4
    if end < 0 or (0 <= raw.find(b"\n\n") < end):
        end, separator = raw.find(b"\n\n"), 2
    if end < 0:
        return raw
    kept: list[bytes] = []
    dropping = False
    for line in raw[:end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() == name.lower()
        if not dropping:
            kept.append(line)
    return b"".join(kept) + raw[end : end + separator] + raw[end + separator :]


def _line_ending(raw: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in raw[:2000] else b"\n"


class GraphServer:
    """The fake Graph service. `start()` it (or use `with`), point a client at `graph_url`."""

    def __init__(
        self, validator: TokenValidator | None = None, *, tls: ssl.SSLContext | None = None
    ) -> None:
        """`tls`: serve `https://` with this server context (e.g. `TokenServer.server_tls()`)."""
        self._lock = threading.RLock()
        self._tokens: dict[str, Principal] = {}
        self._validator: TokenValidator = validator or self._tokens.get
        self._mailboxes: dict[str, _Mailbox] = {}
        self._user_ids: dict[str, str] = {}
        self._grants: dict[tuple[str, str], set[str]] = {}
        self._seq = 0
        self._delta: dict[str, _DeltaRound] = {}
        self._resync_required = False
        self._subscriptions: dict[str, _Subscription] = {}
        self._throttle_left = 0
        self._throttle_retry_after = 0
        self._failures: deque[tuple[int, str, str, int | None]] = deque()
        self._in_flight: dict[tuple[str, str], int] = {}
        self._in_flight_changed = threading.Condition(self._lock)
        self._released = threading.Event()
        self._released.set()
        # (url, body) to POST; an Event to set once everything before it went; None: stop.
        self._outgoing: queue.Queue[tuple[str, Json] | threading.Event | None] = queue.Queue()
        self._held_notifications: list[tuple[str, Json]] | None = None
        self._duplicates_left = 0
        self.tenant_id = str(uuid.uuid4())
        self.outbox: list[SentMail] = []
        self.notification_log: list[NotificationAttempt] = []
        # Knobs a test may turn.
        self.max_concurrent_requests = 4
        self.send_limit_per_minute: int | None = 30
        self.max_subscription_minutes = 4230
        self.validation_timeout = 10.0
        self.clock: Callable[[], float] = time.monotonic
        self._http = LoopbackHTTPServer(("127.0.0.1", 0), _handler_for(self), tls)
        self._threads: list[threading.Thread] = []

    # -- life cycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._http.scheme}://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        """The service root, like `https://graph.microsoft.com/v1.0`."""
        return f"{self.url}/v1.0"

    def start(self) -> GraphServer:
        serve = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="graph-server", daemon=True
        )
        deliver = threading.Thread(
            target=self._deliver_notifications, name="graph-notifications", daemon=True
        )
        self._threads = [serve, deliver]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._threads:
            self._http.shutdown()
            self._outgoing.put(None)
            for thread in self._threads:
                thread.join()
            self._threads = []
        self._http.server_close()

    def __enter__(self) -> GraphServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test helpers: identities and mailboxes ---------------------------------------------

    def issue_token(self, subject: str, scopes: Iterable[str], *, application: bool = False) -> str:
        """A bearer token for a user address (delegated) or an application id (app-only)."""
        token = "eyJ0eXAi." + secrets.token_urlsafe(32)
        subject = subject if application else subject.lower()
        self._tokens[token] = Principal(subject, frozenset(scopes), application)
        return token

    def revoke_token(self, token: str) -> None:
        self._tokens.pop(token, None)

    def add_mailbox(self, address: str) -> str:
        """Create a mailbox with the well-known folders; returns its user id (a GUID)."""
        address = address.lower()
        with self._lock:
            if address in self._mailboxes:
                return self._mailboxes[address].user_id
            mailbox = _Mailbox(address=address, user_id=str(uuid.uuid4()))
            root_id = _new_id("AAMkAGR")
            for name, display in WELL_KNOWN_FOLDERS.items():
                folder_id = root_id if name == "msgfolderroot" else _new_id("AAMkAGF")
                parent = "" if name == "msgfolderroot" else root_id
                mailbox.folders[folder_id] = _Folder(folder_id, display, parent, name)
            self._mailboxes[address] = mailbox
            self._user_ids[mailbox.user_id] = address
            return mailbox.user_id

    def grant(self, app_or_user: str, mailbox: str, permissions: Iterable[str]) -> None:
        """Give a user `FullAccess`/`SendAs`, or an application `Mail.*`, on a mailbox."""
        subject = app_or_user if "@" not in app_or_user else app_or_user.lower()
        with self._lock:
            self._grants.setdefault((subject, mailbox.lower()), set()).update(permissions)

    def deliver(
        self,
        address: str,
        raw_mime: bytes,
        folder: str = "inbox",
        received: datetime | None = None,
    ) -> str:
        """Put a message into a folder as the transport would; returns its immutable id."""
        with self._lock:
            mailbox = self._mailbox(address)
            target = self._folder(mailbox, folder)
            message = self._store(mailbox, target.id, raw_mime, received or _now(), False)
            return message.immutable_id

    def messages(self, address: str, folder: str = "inbox") -> list[StoredMessage]:
        with self._lock:
            mailbox = self._mailbox(address)
            target = self._folder(mailbox, folder)
            return [
                StoredMessage(m.immutable_id, m.raw, m.is_read, m.received)
                for m in sorted(mailbox.messages.values(), key=lambda m: m.entered_seq)
                if m.folder_id == target.id
            ]

    def folder_id(self, address: str, folder: str) -> str:
        with self._lock:
            return self._folder(self._mailbox(address), folder).id

    # -- test helpers: faults ---------------------------------------------------------------

    def expire_delta_tokens(self) -> None:
        """Forget every delta and skip token: following one answers 410 SyncStateNotFound."""
        with self._lock:
            self._delta.clear()

    def require_resync(self) -> None:
        """The next delta request with a token answers 410 resyncRequired with a Location."""
        with self._lock:
            self._resync_required = True

    def throttle(self, n: int, retry_after: int = 1) -> None:
        """The next `n` requests get 429 Too Many Requests with `Retry-After`."""
        with self._lock:
            self._throttle_left = n
            self._throttle_retry_after = retry_after

    def fail_next(
        self,
        status: int,
        code: str,
        message: str = "The fake was told to fail this request.",
        retry_after: int | None = None,
    ) -> None:
        """The next request gets this error (queued after earlier `fail_next` calls)."""
        with self._lock:
            self._failures.append((status, code, message, retry_after))

    @contextmanager
    def hold_requests(self) -> Iterator[None]:
        """Mailbox requests that get in wait inside until the block ends (to fill the limit)."""
        self._released.clear()
        try:
            yield
        finally:
            self._released.set()

    def wait_for_in_flight(self, mailbox: str, count: int, timeout: float = 10.0) -> None:
        """Block until `count` requests are inside for `mailbox` (any caller)."""
        deadline = time.monotonic() + timeout
        with self._in_flight_changed:
            while self._in_flight_for(mailbox.lower()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{count} requests never reached {mailbox}")
                self._in_flight_changed.wait(left)

    # -- test helpers: notifications --------------------------------------------------------

    def hold_notifications(self) -> None:
        """Keep notifications back until `release_notifications`."""
        with self._lock:
            if self._held_notifications is None:
                self._held_notifications = []

    def release_notifications(self, *, reverse: bool = False) -> None:
        """Send the held notifications, in order or (`reverse`) out of order."""
        with self._lock:
            held = self._held_notifications or []
            self._held_notifications = None
        for item in reversed(held) if reverse else held:
            self._outgoing.put(item)

    def duplicate_notifications(self, count: int = 1) -> None:
        """The next `count` notification batches are each POSTed twice."""
        with self._lock:
            self._duplicates_left = count

    def send_lifecycle_event(self, subscription_id: str, event: str) -> None:
        """POST a lifecycle notification; `subscriptionRemoved` also removes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"lifecycle events are {LIFECYCLE_EVENTS}, not {event!r}")
        with self._lock:
            subscription = self._subscriptions[subscription_id]
            if subscription.lifecycle_url is None:
                raise ValueError(f"subscription {subscription_id} has no lifecycleNotificationUrl")
            body = {
                "value": [
                    {
                        "subscriptionId": subscription.id,
                        "subscriptionExpirationDateTime": _iso(subscription.expires),
                        "tenantId": self.tenant_id,
                        "clientState": subscription.client_state,
                        "lifecycleEvent": event,
                    }
                ]
            }
            if event == "subscriptionRemoved":
                del self._subscriptions[subscription_id]
            self._queue_notification(subscription.lifecycle_url, body)

    def subscription_ids(self) -> list[str]:
        with self._lock:
            return list(self._subscriptions)

    def flush_notifications(self, timeout: float = 10.0) -> None:
        """Block until every queued notification has been POSTed (held ones excepted)."""
        done = threading.Event()
        self._outgoing.put(done)
        if not done.wait(timeout):
            raise TimeoutError("notifications were not delivered in time")

    # -- state (call with the lock held) ------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _mailbox(self, ref: str) -> _Mailbox:
        address = self._user_ids.get(ref, ref.lower())
        mailbox = self._mailboxes.get(address)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
        return mailbox

    def _folder(self, mailbox: _Mailbox, ref: str) -> _Folder:
        wanted = ref.lower()
        for folder in mailbox.folders.values():
            if folder.id == ref or folder.well_known == wanted:
                return folder
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    def _message(self, mailbox: _Mailbox, ref: str) -> _Message:
        found = mailbox.messages.get(ref)  # keyed by immutable id: no scan for those
        if found is not None:
            return found
        for message in mailbox.messages.values():
            if ref in (message.immutable_id, message.rest_id):
                return message
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    def _store(
        self, mailbox: _Mailbox, folder_id: str, raw: bytes, received: datetime, is_read: bool
    ) -> _Message:
        seq = self._next_seq()
        immutable = _new_id("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A")
        message = _Message(
            immutable_id=immutable,
            rest_id=_new_id("AAMkADNkNAAA"),
            folder_id=folder_id,
            raw=raw,
            received=received,
            is_read=is_read,
            entered_seq=seq,
            changed_seq=seq,
            change_key=secrets.token_urlsafe(12),
            created=_now(),
            modified=_now(),
            headers=header_summary(raw),
        )
        mailbox.messages[immutable] = message
        self._notify(mailbox, folder_id, "created", message)
        return message

    def _touch(self, message: _Message) -> None:
        message.changed_seq = self._next_seq()
        message.change_key = secrets.token_urlsafe(12)
        message.modified = _now()

    def _remove_from_folder(self, mailbox: _Mailbox, message: _Message, reason: str) -> None:
        mailbox.removals.append(
            _Removal(
                self._next_seq(),
                message.folder_id,
                message.rest_id,
                message.immutable_id,
                reason,
            )
        )
        self._notify(mailbox, message.folder_id, "deleted", message)

    def _move(
        self, mailbox: _Mailbox, message: _Message, destination: _Folder, reason: str
    ) -> None:
        self._remove_from_folder(mailbox, message, reason)
        message.folder_id = destination.id
        message.rest_id = _new_id("AAMkADNkNAAA")  # regular ids change on a move
        self._touch(message)
        message.entered_seq = message.changed_seq
        self._notify(mailbox, destination.id, "created", message)

    def _in_flight_for(self, mailbox: str) -> int:
        return sum(n for (_, box), n in self._in_flight.items() if box == mailbox)

    # -- authorization --------------------------------------------------------------------

    def _authorize(self, principal: Principal, mailbox: _Mailbox, need: str) -> None:
        """Raise 403 unless `principal` may `need` ("read", "write", "send") on `mailbox`."""
        scopes = principal.scopes
        grants = self._grants.get((principal.subject, mailbox.address), set())
        wanted = {
            "read": {"Mail.Read", "Mail.ReadWrite"},
            "write": {"Mail.ReadWrite"},
            "send": {"Mail.Send"},
        }[need]
        if principal.application:
            allowed = bool(wanted & scopes & grants)
        elif principal.subject == mailbox.address:
            allowed = bool(wanted & scopes)
        else:
            shared = {scope + ".Shared" for scope in wanted}
            right = "SendAs" if need == "send" else "FullAccess"
            allowed = bool(shared & scopes) and right in grants
        if not allowed:
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    # -- rendering --------------------------------------------------------------------------

    def _message_json(
        self, mailbox: _Mailbox, message: _Message, immutable: bool, select: Iterable[str] | None
    ) -> Json:
        full: Json = {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"{message.change_key}"',
            "id": message.immutable_id if immutable else message.rest_id,
            "createdDateTime": _iso(message.created),
            "lastModifiedDateTime": _iso(message.modified),
            "changeKey": message.change_key,
            "receivedDateTime": _iso(message.received),
            "parentFolderId": message.folder_id,
            "conversationId": "AAQkAD" + message.immutable_id[-16:],
            "isRead": message.is_read,
            "isDraft": False,
            **message.headers,
        }
        if select is None:
            return full
        keep = {"@odata.type", "@odata.etag", "id", *select}
        return {key: value for key, value in full.items() if key in keep}

    def _folder_json(self, mailbox: _Mailbox, folder: _Folder) -> Json:
        inside = [m for m in mailbox.messages.values() if m.folder_id == folder.id]
        return {
            "id": folder.id,
            "displayName": folder.display_name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": sum(
                1 for f in mailbox.folders.values() if f.parent_id == folder.id
            ),
            "unreadItemCount": sum(1 for m in inside if not m.is_read),
            "totalItemCount": len(inside),
            "isHidden": False,
        }

    def _subscription_json(self, subscription: _Subscription) -> Json:
        return {
            "@odata.context": f"{self.graph_url}/$metadata#subscriptions/$entity",
            "id": subscription.id,
            "resource": subscription.resource,
            "applicationId": subscription.application_id,
            "changeType": ",".join(subscription.change_types),
            "clientState": subscription.client_state,
            "notificationUrl": subscription.notification_url,
            "lifecycleNotificationUrl": subscription.lifecycle_url,
            "expirationDateTime": _iso(subscription.expires),
            "creatorId": subscription.owner,
            "latestSupportedTlsVersion": "v1_2",
            "notificationContentType": "application/json",
        }

    # -- notifications ----------------------------------------------------------------------

    def _notify(self, mailbox: _Mailbox, folder_id: str, change: str, message: _Message) -> None:
        now = _now()
        for subscription in self._subscriptions.values():
            if (
                subscription.mailbox != mailbox.address
                or subscription.folder_id not in (None, folder_id)
                or change not in subscription.change_types
                or subscription.expires <= now
            ):
                continue
            message_id = message.immutable_id if subscription.immutable_ids else message.rest_id
            resource = f"Users/{mailbox.user_id}/Messages/{message_id}"
            entry: Json = {
                "id": secrets.token_urlsafe(9),
                "subscriptionId": subscription.id,
                "subscriptionExpirationDateTime": _iso(subscription.expires),
                "clientState": subscription.client_state,
                "changeType": change,
                "resource": resource,
                "tenantId": self.tenant_id,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Message",
                    "@odata.id": resource,
                    "@odata.etag": f'W/"{message.change_key}"',
                    "id": message_id,
                },
            }
            self._queue_notification(subscription.notification_url, {"value": [entry]})

    def _queue_notification(self, url: str, body: Json) -> None:
        if self._held_notifications is not None:
            self._held_notifications.append((url, body))
            return
        copies = 1
        if self._duplicates_left > 0:
            self._duplicates_left -= 1
            copies = 2
        for _ in range(copies):
            self._outgoing.put((url, body))

    def _deliver_notifications(self) -> None:
        while True:
            item = self._outgoing.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            url, body = item
            data = json.dumps(body).encode()
            request = urllib.request.Request(  # noqa: S310 (a URL the test registered)
                url, data=data, method="POST", headers={"Content-Type": "application/json"}
            )
            status = 0
            try:
                with urllib.request.urlopen(request, timeout=_NOTIFICATION_TIMEOUT) as answer:  # noqa: S310
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            with self._lock:
                self.notification_log.append(NotificationAttempt(url, body, status))

    def _validate_endpoint(self, url: str) -> None:
        """The documented handshake: POST ?validationToken=..., expect it echoed as text/plain."""
        token = (
            "Validation: Testing client application reachability for subscription "
            f"Request-Id: {uuid.uuid4()}"
        )
        separator = "&" if urlsplit(url).query else "?"
        request = urllib.request.Request(  # noqa: S310 (a URL the client registered)
            f"{url}{separator}validationToken={quote(token, safe='')}",
            data=b"",
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        failed = GraphError(
            400,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with "
            "200 OK to validation request.",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.validation_timeout) as answer:  # noqa: S310
                content_type = answer.headers.get("Content-Type", "")
                echoed = answer.read().decode("utf-8", "replace")
                if answer.status != 200 or not content_type.startswith("text/plain"):
                    raise failed
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            raise failed from error
        if echoed != token:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter.",
            )

    # -- request handling -----------------------------------------------------------------

    def handle(self, request: _Request) -> _Response:
        """Answer one request; errors become Graph's JSON error body."""
        try:
            if not request.path.startswith("/v1.0/"):
                raise GraphError(400, "BadRequest", "Invalid version.")
            principal = self._authenticate(request)
            self._injected_fault()
            return self._route(request, principal)
        except GraphError as error:
            return _error_response(error, request.request_id)
        except Exception as error:  # a bug in the fake: say so instead of dropping the line
            failure = GraphError(500, "generalException", f"{type(error).__name__}: {error}")
            return _error_response(failure, request.request_id)

    def _authenticate(self, request: _Request) -> Principal:
        header = request.headers.get("authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'}
        if not header:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
        scheme, _, token = header.partition(" ")
        principal = self._validator(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure.", challenge
            )
        return principal

    def _injected_fault(self) -> None:
        with self._lock:
            if self._throttle_left > 0:
                self._throttle_left -= 1
                raise GraphError(
                    429,
                    "TooManyRequests",
                    "Please retry again later.",
                    {"Retry-After": str(self._throttle_retry_after)},
                )
            if self._failures:
                status, code, message, retry_after = self._failures.popleft()
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                raise GraphError(status, code, message, headers)

    def _route(self, request: _Request, principal: Principal) -> _Response:
        parts = request.segments
        if parts[:1] == ["subscriptions"]:
            return self._subscriptions_route(request, principal, parts[1:])
        if parts[:1] == ["me"]:
            if principal.application:
                raise GraphError(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                )
            owner, rest = principal.subject, parts[1:]
        elif parts[:1] == ["users"] and len(parts) >= 2:
            owner, rest = request.raw_segments[1], parts[2:]
        else:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{parts[0]}'.")
        with self._lock:
            mailbox = self._mailbox(owner)
        key = (principal.subject, mailbox.address)
        with self._in_flight_changed:
            if self._in_flight.get(key, 0) >= self.max_concurrent_requests:
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self._in_flight_changed.notify_all()
        try:
            self._released.wait()
            return self._mailbox_route(request, principal, mailbox, rest)
        finally:
            with self._in_flight_changed:
                self._in_flight[key] -= 1
                self._in_flight_changed.notify_all()

    def _mailbox_route(
        self, request: _Request, principal: Principal, mailbox: _Mailbox, rest: list[str]
    ) -> _Response:
        method = request.method
        raw_rest = request.raw_segments[len(request.raw_segments) - len(rest) :]
        with self._lock:
            if rest == ["sendmail"] and method == "POST":
                return self._send_mail(request, principal, mailbox)
            if rest[:1] == ["mailfolders"]:
                if len(rest) == 1:
                    root = self._folder(mailbox, "msgfolderroot")
                    return self._folders(request, principal, mailbox, root)
                folder = self._folder(mailbox, raw_rest[1])
                if len(rest) == 2 and method == "GET":
                    self._authorize(principal, mailbox, "read")
                    return _json_response(200, self._folder_json(mailbox, folder))
                if rest[2:] == ["childfolders"]:
                    return self._folders(request, principal, mailbox, folder)
                if rest[2:3] == ["messages"]:
                    return self._messages_route(
                        request, principal, mailbox, folder, rest[3:], raw_rest[3:]
                    )
            if rest[:1] == ["messages"] and len(rest) >= 2:
                return self._messages_route(
                    request, principal, mailbox, None, rest[1:], raw_rest[1:]
                )
        raise GraphError(405, "Request_BadRequest", f"{method} is not supported on this path.")

    def _folders(
        self, request: _Request, principal: Principal, mailbox: _Mailbox, parent: _Folder
    ) -> _Response:
        if request.method == "GET":
            self._authorize(principal, mailbox, "read")
            children = [
                self._folder_json(mailbox, f)
                for f in mailbox.folders.values()
                if f.parent_id == parent.id and f.well_known not in _HIDDEN_FOLDERS
            ]
            context = f"{self.graph_url}/$metadata#users('{mailbox.address}')/mailFolders"
            return _json_response(200, {"@odata.context": context, "value": children})
        if request.method == "POST":
            self._authorize(principal, mailbox, "write")
            name = str(request.json().get("displayName") or "").strip()
            if not name:
                raise GraphError(400, "ErrorInvalidParameter", "displayName is required.")
            for sibling in mailbox.folders.values():
                if sibling.parent_id == parent.id and sibling.display_name.lower() == name.lower():
                    raise GraphError(
                        409,
                        "ErrorFolderExists",
                        "A folder with the specified name already exists.",
                    )
            folder = _Folder(_new_id("AAMkAGF"), name, parent.id)
            mailbox.folders[folder.id] = folder
            return _json_response(201, self._folder_json(mailbox, folder))
        raise GraphError(405, "Request_BadRequest", f"{request.method} is not supported here.")

    def _messages_route(
        self,
        request: _Request,
        principal: Principal,
        mailbox: _Mailbox,
        folder: _Folder | None,
        rest: list[str],
        raw_rest: list[str],
    ) -> _Response:
        method = request.method
        if folder is not None and not rest and method == "GET":
            self._authorize(principal, mailbox, "read")
            return self._list_messages(request, mailbox, folder)
        if (
            folder is not None
            and rest in (["delta"], ["microsoft.graph.delta"])
            and method == "GET"
        ):
            self._authorize(principal, mailbox, "read")
            return self._delta_page(request, mailbox, folder)
        if not rest:
            raise GraphError(405, "Request_BadRequest", f"{method} is not supported here.")
        message = self._message(mailbox, raw_rest[0])
        action = rest[1:]
        immutable = request.immutable_ids
        if action == ["$value"] and method == "GET":
            self._authorize(principal, mailbox, "read")
            return _Response(200, message.raw, {"Content-Type": "text/plain"})
        if not action and method == "GET":
            self._authorize(principal, mailbox, "read")
            select = request.select()
            return _json_response(200, self._message_json(mailbox, message, immutable, select))
        if not action and method == "PATCH":
            self._authorize(principal, mailbox, "write")
            changes = request.json()
            if set(changes) - {"isRead"} or not isinstance(changes.get("isRead"), bool):
                raise GraphError(
                    400, "BadRequest", "The fake supports only a boolean isRead in an update."
                )
            if message.is_read != changes["isRead"]:
                message.is_read = changes["isRead"]
                self._touch(message)
                self._notify(mailbox, message.folder_id, "updated", message)
            return _json_response(200, self._message_json(mailbox, message, immutable, None))
        if not action and method == "DELETE":
            self._authorize(principal, mailbox, "write")
            self._move(
                mailbox, message, self._folder(mailbox, "recoverableitemsdeletions"), "deleted"
            )
            return _Response(204, b"", {})
        if action in (["move"], ["microsoft.graph.move"]) and method == "POST":
            self._authorize(principal, mailbox, "write")
            destination = str(request.json().get("destinationId") or "")
            target = self._folder(mailbox, destination)
            self._move(mailbox, message, target, "changed")
            return _json_response(201, self._message_json(mailbox, message, immutable, None))
        raise GraphError(405, "Request_BadRequest", f"{method} is not supported here.")

    def _list_messages(self, request: _Request, mailbox: _Mailbox, folder: _Folder) -> _Response:
        inside = sorted(
            (m for m in mailbox.messages.values() if m.folder_id == folder.id),
            key=lambda m: m.received,
            reverse=True,
        )
        top = int(request.query.get("$top", "10"))
        skip = int(request.query.get("$skip", "0"))
        page = inside[skip : skip + top]
        body: Json = {
            "value": [
                self._message_json(mailbox, m, request.immutable_ids, request.select())
                for m in page
            ]
        }
        if skip + top < len(inside):
            body["@odata.nextLink"] = (
                f"{self.graph_url}/users/{mailbox.user_id}/mailFolders/{folder.id}/messages"
                f"?$top={top}&$skip={skip + top}"
            )
        return _json_response(200, body, request.preference_applied())

    # -- delta ------------------------------------------------------------------------------

    def _delta_page(self, request: _Request, mailbox: _Mailbox, folder: _Folder) -> _Response:
        token = request.query.get("$skiptoken") or request.query.get("$deltatoken")
        initial_link = (
            f"{self.graph_url}/users/{mailbox.user_id}/mailFolders('{folder.id}')/messages/delta"
        )
        if token is not None:
            if self._resync_required:
                self._resync_required = False
                raise GraphError(
                    410,
                    "resyncRequired",
                    "The delta token is no longer valid, and the app must reset the sync state.",
                    {"Location": initial_link + "?$deltatoken="},
                )
            found = self._delta.get(token)
            if found is None or found.mailbox != mailbox.address or found.folder_id != folder.id:
                raise GraphError(
                    410, "SyncStateNotFound", "The sync state generation is not found."
                )
            state = replace(found)  # the token's own state stays as it was, for a repeat
        else:
            state = self._new_round(request, mailbox, folder)
        if state.pending is None:
            state.high = self._seq
            state.pending = self._changes(mailbox, state)
        page_size = request.page_size or state.page_size
        end = state.offset + page_size
        page, rest = state.pending[state.offset : end], state.pending[end:]
        values: list[Json] = []
        for kind, ref in page:
            if kind == "message":
                message = mailbox.messages.get(ref)
                if message is not None and message.folder_id == folder.id:
                    values.append(
                        self._message_json(mailbox, message, request.immutable_ids, state.select)
                    )
                continue
            removal = next(r for r in reversed(mailbox.removals) if r.immutable_id == ref)
            values.append(
                {
                    "@odata.type": "#microsoft.graph.message",
                    "id": removal.immutable_id if request.immutable_ids else removal.rest_id,
                    "@removed": {"reason": kind},
                }
            )
        next_token = secrets.token_urlsafe(24)
        body: Json = {"@odata.context": f"{self.graph_url}/$metadata#Collection(message)"}
        if rest:
            self._delta[next_token] = replace(state, offset=end)
            body["@odata.nextLink"] = f"{initial_link}?$skiptoken={next_token}"
        else:
            self._delta[next_token] = _DeltaRound(
                mailbox=state.mailbox,
                folder_id=state.folder_id,
                select=state.select,
                change_type=state.change_type,
                received_filter=state.received_filter,
                newest_first=state.newest_first,
                page_size=state.page_size,
                since=state.high,
            )
            body["@odata.deltaLink"] = f"{initial_link}?$deltatoken={next_token}"
        body["value"] = values
        return _json_response(200, body, request.preference_applied(page_size))

    def _new_round(self, request: _Request, mailbox: _Mailbox, folder: _Folder) -> _DeltaRound:
        change_type = request.query.get("changetype")
        if change_type not in (None, "created", "updated", "deleted"):
            raise GraphError(400, "ErrorInvalidParameter", f"Invalid changeType '{change_type}'.")
        received_filter = None
        if "$filter" in request.query:
            match = re.fullmatch(
                r"\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*", request.query["$filter"], re.IGNORECASE
            )
            if match is None:
                raise GraphError(
                    400,
                    "ErrorInvalidUrlQueryFilter",
                    "The only supported filter is receivedDateTime ge|gt {value}.",
                )
            try:
                received_filter = (match.group(1).lower(), _parse_iso(match.group(2)))
            except ValueError as error:
                raise GraphError(
                    400, "ErrorInvalidUrlQueryFilter", f"Bad date: {match.group(2)}"
                ) from error
        order = request.query.get("$orderby")
        if order is not None and order.strip().lower() != "receiveddatetime desc":
            raise GraphError(
                400, "ErrorInvalidUrlQuery", "The only supported $orderby is receivedDateTime desc."
            )
        return _DeltaRound(
            mailbox=mailbox.address,
            folder_id=folder.id,
            select=request.select(),
            change_type=change_type,
            received_filter=received_filter,
            newest_first=order is not None,
            page_size=request.page_size or int(request.query.get("$top", _DEFAULT_PAGE_SIZE)),
            since=None,
        )

    def _changes(self, mailbox: _Mailbox, state: _DeltaRound) -> list[tuple[str, str]]:
        since = state.since

        def wanted(message: _Message) -> bool:
            if state.received_filter is None:
                return True
            operator, moment = state.received_filter
            return message.received >= moment if operator == "ge" else message.received > moment

        inside = [m for m in mailbox.messages.values() if m.folder_id == state.folder_id]
        inside.sort(key=lambda m: m.received if state.newest_first else m.entered_seq)
        if state.newest_first:
            inside.reverse()
        changes: list[tuple[str, str]] = []
        for message in inside:
            if not wanted(message):
                continue
            if since is None:
                changes.append(("message", message.immutable_id))
                continue
            kind = (
                "created"
                if message.entered_seq > since
                else "updated"
                if message.changed_seq > since
                else None
            )
            if kind is not None and state.change_type in (None, kind):
                changes.append(("message", message.immutable_id))
        if since is not None and state.change_type in (None, "deleted"):
            present = {m.immutable_id for m in inside}
            reported: set[str] = set()
            for removal in reversed(mailbox.removals):
                if (
                    removal.seq > since
                    and removal.folder_id == state.folder_id
                    and removal.immutable_id not in present
                    and removal.immutable_id not in reported
                ):
                    reported.add(removal.immutable_id)
                    changes.append((removal.reason, removal.immutable_id))
        return changes

    # -- sending ----------------------------------------------------------------------------

    def _send_mail(self, request: _Request, principal: Principal, mailbox: _Mailbox) -> _Response:
        self._authorize(principal, mailbox, "send")
        save_copy = True
        if request.content_type.startswith("text/plain"):
            try:
                raw = base64.b64decode(b"".join(request.body.split()), validate=True)
            except (binascii.Error, ValueError) as error:
                raise GraphError(
                    400,
                    "ErrorMimeContentInvalidBase64String",
                    "Invalid base64 string for MIME content.",
                ) from error
            if not raw.strip():
                raise GraphError(
                    400,
                    "ErrorMimeContentInvalidBase64String",
                    "Invalid base64 string for MIME content.",
                )
        else:
            payload = request.json()
            save_copy = payload.get("saveToSentItems", True) not in (False, "false")
            raw = _compose(payload.get("message") or {}, mailbox.address)
        summary = header_summary(raw)
        sender = (summary["from"] or {}).get("emailAddress", {}).get("address")
        if sender and sender.lower() != mailbox.address:
            raise GraphError(
                403,
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does not have the right "
                "to send mail on behalf of the specified sending account.",
            )
        self._check_send_rate(mailbox)
        raw = stamp_missing_headers(raw, mailbox.address)
        recipients = tuple(
            entry["emailAddress"]["address"].lower()
            for key in ("toRecipients", "ccRecipients", "bccRecipients")
            for entry in summary[key]
        )
        if not recipients:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        if save_copy:
            self._store(mailbox, self._folder(mailbox, "sentitems").id, raw, _now(), True)
        delivered = strip_header(raw, b"Bcc")
        for recipient in recipients:
            target = self._mailboxes.get(recipient)
            if target is not None:
                self._store(target, self._folder(target, "inbox").id, delivered, _now(), False)
        self.outbox.append(SentMail(mailbox.address, recipients, raw))
        return _Response(202, b"", {})

    def _check_send_rate(self, mailbox: _Mailbox) -> None:
        limit = self.send_limit_per_minute
        now = self.clock()
        while mailbox.sends and mailbox.sends[0] <= now - 60:
            mailbox.sends.popleft()
        if limit is not None and len(mailbox.sends) >= limit:
            wait = max(1, math.ceil(mailbox.sends[0] + 60 - now))
            raise GraphError(
                429,
                "ApplicationThrottled",
                f"Mailbox has exceeded its limit of {limit} messages a minute.",
                {"Retry-After": str(wait)},
            )
        mailbox.sends.append(now)

    # -- subscriptions ----------------------------------------------------------------------

    def _subscriptions_route(
        self, request: _Request, principal: Principal, rest: list[str]
    ) -> _Response:
        method = request.method
        if not rest and method == "POST":
            return self._create_subscription(request, principal)
        if not rest and method == "GET":
            with self._lock:
                mine = [
                    self._subscription_json(s)
                    for s in self._subscriptions.values()
                    if s.owner == principal.subject
                ]
            return _json_response(200, {"value": mine})
        with self._lock:
            subscription = self._subscriptions.get(request.raw_segments[1])
            if subscription is None or subscription.owner != principal.subject:
                raise GraphError(404, "ResourceNotFound", "The object was not found.")
            if rest[1:] == ["reauthorize"] and method == "POST":
                return _Response(204, b"", {})
            if rest[1:]:
                raise GraphError(405, "Request_BadRequest", f"{method} is not supported here.")
            if method == "GET":
                return _json_response(200, self._subscription_json(subscription))
            if method == "DELETE":
                del self._subscriptions[subscription.id]
                return _Response(204, b"", {})
            if method == "PATCH":
                changes = request.json()
                subscription.expires = self._expiry(changes.get("expirationDateTime"))
                return _json_response(200, self._subscription_json(subscription))
        raise GraphError(405, "Request_BadRequest", f"{method} is not supported here.")

    def _expiry(self, value: object) -> datetime:
        if not isinstance(value, str):
            raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
        try:
            expires = _parse_iso(value)
        except ValueError as error:
            raise GraphError(400, "InvalidRequest", f"Bad expirationDateTime: {value}") from error
        now = _now()
        if expires <= now:
            raise GraphError(
                400, "InvalidRequest", "Subscription expiration must be in the future."
            )
        if expires > now + timedelta(minutes=self.max_subscription_minutes):
            raise GraphError(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be {self.max_subscription_minutes} minutes "
                "in the future.",
            )
        return expires

    def _create_subscription(self, request: _Request, principal: Principal) -> _Response:
        body = request.json()
        change_types = tuple(
            part.strip() for part in str(body.get("changeType") or "").split(",") if part.strip()
        )
        if not change_types or set(change_types) - {"created", "updated", "deleted"}:
            raise GraphError(
                400, "InvalidRequest", "changeType must name created, updated, deleted."
            )
        notification_url = body.get("notificationUrl")
        if not isinstance(notification_url, str) or not notification_url.startswith("http"):
            raise GraphError(400, "InvalidRequest", "notificationUrl is required.")
        lifecycle_url = body.get("lifecycleNotificationUrl")
        client_state = body.get("clientState")
        if client_state is not None and (
            not isinstance(client_state, str) or len(client_state) > 128
        ):
            raise GraphError(400, "InvalidRequest", "clientState must be at most 128 characters.")
        resource = str(body.get("resource") or "")
        match = re.fullmatch(
            r"/?(me|users/([^/]+)|users\('([^']+)'\))"
            r"(?:/mailfolders(?:/([^/]+)|\('([^']+)'\)))?/messages",
            resource,
            re.IGNORECASE,
        )
        if match is None:
            raise GraphError(400, "InvalidRequest", f"Unsupported resource '{resource}'.")
        with self._lock:
            expires = self._expiry(body.get("expirationDateTime"))
            owner = match.group(2) or match.group(3)
            if owner is None:
                if principal.application:
                    raise GraphError(
                        400,
                        "BadRequest",
                        "/me request is only valid with delegated authentication flow.",
                    )
                owner = principal.subject
            mailbox = self._mailbox(unquote(owner))
            self._authorize(principal, mailbox, "read")
            folder_ref = match.group(4) or match.group(5)
            folder_id = self._folder(mailbox, unquote(folder_ref)).id if folder_ref else None
        self._validate_endpoint(notification_url)
        if isinstance(lifecycle_url, str):
            self._validate_endpoint(lifecycle_url)
        subscription = _Subscription(
            id=str(uuid.uuid4()),
            owner=principal.subject,
            application_id=principal.subject
            if principal.application
            else str(uuid.uuid5(uuid.NAMESPACE_DNS, "deskmail")),
            mailbox=mailbox.address,
            folder_id=folder_id,
            resource=resource,
            change_types=change_types,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url if isinstance(lifecycle_url, str) else None,
            client_state=client_state,
            expires=expires,
            immutable_ids=request.immutable_ids,
        )
        with self._lock:
            self._subscriptions[subscription.id] = subscription
        return _json_response(201, self._subscription_json(subscription))


def _compose(message: Json, mailbox: str) -> bytes:
    """MIME for a JSON `message` resource (subject, body, recipients), as Exchange builds it."""
    composed = EmailMessage()
    composed["From"] = mailbox
    for key, header in (("toRecipients", "To"), ("ccRecipients", "Cc"), ("bccRecipients", "Bcc")):
        addresses = [r["emailAddress"]["address"] for r in message.get(key) or []]
        if addresses:
            composed[header] = ", ".join(addresses)
    composed["Subject"] = str(message.get("subject") or "")
    body = message.get("body") or {}
    subtype = "html" if str(body.get("contentType", "")).lower() == "html" else "plain"
    composed.set_content(str(body.get("content") or ""), subtype=subtype)
    return composed.as_bytes()


def stamp_missing_headers(raw: bytes, mailbox: str) -> bytes:
    """Add the From, Date and Message-ID headers Exchange adds when the client left them out."""
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    eol = _line_ending(raw)
    added = b""
    if headers.get("From") is None:
        added += b"From: " + mailbox.encode() + eol
    if headers.get("Date") is None:
        added += b"Date: " + email.utils.formatdate(usegmt=True).encode() + eol
    if headers.get("Message-ID") is None:
        domain = mailbox.rpartition("@")[2] or "fake.invalid"
        added += b"Message-ID: " + email.utils.make_msgid(domain=domain).encode() + eol
    return added + raw


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    prefer: dict[str, str]
    body: bytes
    request_id: str

    @property
    def raw_segments(self) -> list[str]:
        segments: list[str] = []
        for part in self.path.removeprefix("/v1.0/").strip("/").split("/"):
            text = unquote(part)
            match = re.fullmatch(r"([^(]+)\('([^']*)'\)", text)
            segments.extend([match.group(1), match.group(2)] if match else [text])
        return segments

    @property
    def segments(self) -> list[str]:
        """Path segments with keywords lower-cased (Graph's are case-insensitive); ids kept."""
        return [s.lower() for s in self.raw_segments]

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").lower()

    @property
    def immutable_ids(self) -> bool:
        return self.prefer.get("idtype", "").strip('"').lower() == "immutableid"

    @property
    def page_size(self) -> int | None:
        value = self.prefer.get("odata.maxpagesize")
        return int(value) if value and value.isdigit() and int(value) > 0 else None

    def preference_applied(self, page_size: int | None = None) -> dict[str, str]:
        applied = []
        if page_size is not None and self.page_size is not None:
            applied.append(f"odata.maxpagesize={page_size}")
        if self.immutable_ids:
            applied.append('IdType="ImmutableId"')
        return {"Preference-Applied": ", ".join(applied)} if applied else {}

    def select(self) -> tuple[str, ...] | None:
        value = self.query.get("$select")
        if value is None:
            return None
        names = tuple(name.strip() for name in value.split(",") if name.strip())
        for name in names:
            if name not in MESSAGE_PROPERTIES and name != "id":
                raise GraphError(
                    400,
                    "RequestBroker--ParseUri",
                    f"Could not find a property named '{name}' on type 'microsoft.graph.message'.",
                )
        return names

    def json(self) -> Json:
        try:
            loaded = json.loads(self.body or b"{}")
        except json.JSONDecodeError as error:
            raise GraphError(
                400, "BadRequest", f"Unable to read JSON request payload: {error}"
            ) from error
        if not isinstance(loaded, dict):
            raise GraphError(400, "BadRequest", "The request payload must be a JSON object.")
        return loaded


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]


def _json_response(status: int, body: Json, headers: dict[str, str] | None = None) -> _Response:
    return _Response(
        status,
        json.dumps(body).encode(),
        {"Content-Type": "application/json;odata.metadata=minimal", **(headers or {})},
    )


def _error_response(error: GraphError, request_id: str) -> _Response:
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "innerError": {
                "date": _iso(_now()),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }
    return _json_response(error.status, body, error.headers)


def _parse_prefer(values: list[str]) -> dict[str, str]:
    prefer: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            key, _, setting = part.strip().partition("=")
            if key:
                prefer[key.strip().lower()] = setting.strip()
    return prefer


def _handler_for(server: GraphServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and a small body leave as two writes; without TCP_NODELAY the second waits
        # for the client's delayed ACK (some 40 ms a response).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output quiet

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {
                key.lower(): values[0]
                for key, values in parse_qs(parts.query, keep_blank_values=True).items()
            }
            request_id = self.headers.get("client-request-id") or str(uuid.uuid4())
            request = _Request(
                method=self.command,
                path=parts.path,
                query=query,
                headers={key.lower(): value for key, value in self.headers.items()},
                prefer=_parse_prefer(self.headers.get_all("Prefer") or []),
                body=body,
                request_id=request_id,
            )
            response = server.handle(request)
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("request-id", request_id)
            self.send_header("client-request-id", request_id)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
