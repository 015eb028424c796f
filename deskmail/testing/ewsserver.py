"""A fake Exchange Web Services endpoint (`/EWS/Exchange.asmx`) on 127.0.0.1, for tests.

On-premises Exchange cannot run on the test machines, so the EWS connector is tested against
this server: SOAP 1.1 over HTTP, stdlib `http.server` in a thread, state in memory. It answers
the operations a helpdesk connector sends through `exchangelib` and reports itself as
Exchange 2016 (build 15.1) in `ServerVersionInfo`.

Each operation and the EWS reference page it follows (under
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/):

- `GetFolder`: getfolder-operation. Distinguished ids the fake has no folder for answer
  `ErrorFolderNotFound`, as a server without that folder does.
- `FindFolder`: findfolder-operation (Shallow and Deep traversal, `IndexedPageFolderView`).
- `SyncFolderItems`: syncfolderitems-operation; changes-items ("Create", "Update", "Delete",
  "ReadFlagChange"). A sync state the server does not know (or no longer knows, after
  `expire_sync_states`) answers `ErrorInvalidSyncStateData` as in the page's error example.
  At most `MaxChangesReturned` (capped at 512) changes a call, `IncludesLastItemInRange`
  false while more remain.
- `GetItem`: getitem-operation; `MimeContent` (base64, `CharacterSet="UTF-8"`) when the shape
  asks for `item:MimeContent` or `IncludeMimeContent`.
- `UpdateItem`: updateitem-operation (`SetItemField` of `message:IsRead` only;
  `ConflictResolution="NeverOverwrite"` with a stale change key is `ErrorIrresolvableConflict`).
- `MoveItem`: moveitem-operation (the item gets a new id in its new folder, as in Exchange).
- `DeleteItem`: deleteitem-operation (`HardDelete` removes it, `SoftDelete` moves it to the
  hidden Recoverable Items, `MoveToDeletedItems` to Deleted Items).
- `CreateItem`: createitem-operation; "Creating an email message with MIME content" (the
  `MimeContent` is the message; `SendAndSaveCopy` keeps a copy in `SavedItemFolderId`,
  `SendOnly` keeps none, `SaveOnly` only saves). A `From` other than the mailbox is
  `ErrorSendAsDenied`.
- `Subscribe` (pull), `GetEvents`, `Unsubscribe`: subscribe-operation,
  pullsubscriptionrequest, getevents-operation, unsubscribe-operation. An empty poll answers
  a `StatusEvent`; at most 50 events a call with `MoreEvents`.
- Authentication: HTTP Basic, 401 with `WWW-Authenticate` otherwise, as an Exchange virtual
  directory with Basic enabled answers. With `ntlm=True` the endpoint also offers NTLM, which
  authenticates the keep-alive connection as IIS does (the handshake is checked by pyspnego's
  acceptor; see `_NtlmUsers` for the one process-wide setting that needs).
- `ConvertId`: convertid-operation. exchangelib sends one for a made-up id to learn the
  server's version from the `ServerVersionInfo` header; each id is answered
  `ErrorInvalidIdMalformed`, as Exchange answers an id it cannot parse.
- OAuth: `Authorization: Bearer` with a token from `issue_token`, as Exchange Server with
  hybrid modern authentication accepts (and 401 for an unknown one).
- Throttling: `busy_next` answers `ErrorServerBusy` with `BackOffMilliseconds` in
  `MessageXml`, the fault EWS throttling sends (ews-throttling-in-exchange).

Simplifications: only mail items (`t:Message`, class `IPM.Note`); summary properties are
read from the MIME headers; SyncFolderItems never returns `MimeContent` (the page says the
operation returns a summary, like FindItem); folder-level events (unread counts) are not
raised; `ExchangeImpersonation` headers are ignored; no Autodiscover.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import ssl
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET  # noqa: S405 (requests come from the test's own client)
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from deskmail.testing.graphserver import (
    header_summary,
    stamp_missing_headers,
    strip_header,
)
from deskmail.testing.loopback import LoopbackHTTPServer

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
for _prefix, _namespace in (("s", SOAP), ("m", MNS), ("t", TNS), ("e", ENS)):
    ET.register_namespace(_prefix, _namespace)

WELL_KNOWN_FOLDERS = {  # distinguished id: (display name, parent, folder class)
    "root": ("", None, None),
    "msgfolderroot": ("Top of Information Store", "root", "IPF.Note"),
    "inbox": ("Inbox", "msgfolderroot", "IPF.Note"),
    "drafts": ("Drafts", "msgfolderroot", "IPF.Note"),
    "sentitems": ("Sent Items", "msgfolderroot", "IPF.Note"),
    "deleteditems": ("Deleted Items", "msgfolderroot", "IPF.Note"),
    "junkemail": ("Junk Email", "msgfolderroot", "IPF.Note"),
    "outbox": ("Outbox", "msgfolderroot", "IPF.Note"),
    "recoverableitemsdeletions": ("Deletions", "root", "IPF.Note"),
}
_MAX_SYNC_CHANGES = 512
_MAX_EVENTS = 50
EVENT_TYPES = (
    "CopiedEvent",
    "CreatedEvent",
    "DeletedEvent",
    "ModifiedEvent",
    "MovedEvent",
    "NewMailEvent",
    "FreeBusyChangedEvent",
)
# FieldURIs the fake can answer, in the order of the Message schema.
ITEM_FIELDS = (
    "item:MimeContent",
    "item:ParentFolderId",
    "item:ItemClass",
    "item:Subject",
    "item:DateTimeReceived",
    "item:Size",
    "item:HasAttachments",
    "item:DateTimeSent",
    "item:DateTimeCreated",
    "message:Sender",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:IsRead",
    "message:From",
    "message:InternetMessageId",
)


@dataclass(frozen=True)
class StoredItem:
    """A message as the fake holds it, for assertions."""

    id: str
    raw: bytes
    is_read: bool
    received: datetime


@dataclass(frozen=True)
class SentMail:
    mailbox: str
    recipients: tuple[str, ...]
    raw: bytes


@dataclass
class _Folder:
    id: str
    change_key: str
    name: str
    parent_id: str | None
    folder_class: str | None
    distinguished: str | None = None


@dataclass
class _Item:
    id: str
    change_key: str
    folder_id: str
    raw: bytes
    is_read: bool
    received: datetime
    created: datetime
    version: int  # changes with everything but the read flag
    summary: dict[str, Any]


@dataclass
class _Mailbox:
    address: str
    folders: dict[str, _Folder] = field(default_factory=dict)
    items: dict[str, _Item] = field(default_factory=dict)


@dataclass
class _SyncState:
    mailbox: str
    folder_id: str
    known: dict[str, tuple[int, bool]]  # item id: (version, is_read) as the client has it


@dataclass
class _Event:
    seq: int
    kind: str
    item_id: str
    folder_id: str
    old_item_id: str | None = None
    old_folder_id: str | None = None
    when: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _Subscription:
    id: str
    mailbox: str
    folder_ids: set[str] | None  # None: every folder
    event_types: set[str]
    events: list[_Event] = field(default_factory=list)
    last_seq: int = 0
    expired: bool = False


class EwsError(Exception):
    """A response message with ResponseClass="Error"."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


def _t(name: str) -> str:
    return f"{{{TNS}}}{name}"


def _m(name: str) -> str:
    return f"{{{MNS}}}{name}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    return "AAMkAD" + secrets.token_urlsafe(30) + "AAA="


def _change_key() -> str:
    return "CQAAABYAAAA" + secrets.token_urlsafe(9)


class EwsServer:
    """The fake EWS endpoint. `start()` it (or use `with`); point exchangelib at `url`.

    One user (`username`, `password`) with one mailbox (`mailbox`) to begin with; more with
    `add_user`, `add_mailbox` and `grant` (Full Access, e.g. to a shared mailbox).
    """

    def __init__(
        self,
        mailbox: str = "support@helpdesk.test",
        username: str = "agent",
        password: str = "Secret-1",  # noqa: S107 (the fake's test account)
        *,
        ntlm: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: serve `https://` with this server context (e.g. `TokenServer.server_tls()`)."""
        self._lock = threading.RLock()
        # NTLM is offered besides Basic when asked for; see `_NtlmUsers`.
        self.ntlm_domain = "HELPDESK"
        self._ntlm = _NtlmUsers(self.ntlm_domain) if ntlm else None
        self._users: dict[str, str] = {}
        self._access: dict[str, set[str]] = {}
        self._mailboxes: dict[str, _Mailbox] = {}
        self._folder_index: dict[str, str] = {}  # folder id: mailbox
        self._item_index: dict[str, str] = {}  # item id: mailbox
        self._sync_states: dict[str, _SyncState] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._event_seq = 0
        self._busy: deque[int] = deque()
        self._bearer_tokens: dict[str, str] = {}
        self.default_mailbox = mailbox.lower()
        self.outbox: list[SentMail] = []
        self.requests: list[str] = []  # operation names, in order, for assertions
        self.add_mailbox(mailbox)
        self.add_user(username, password)
        self.grant(username, mailbox)
        self._http = LoopbackHTTPServer(("127.0.0.1", 0), _handler_for(self), tls)
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """The service endpoint, for `Configuration(service_endpoint=...)`."""
        return f"{self._http.scheme}://127.0.0.1:{self.port}/EWS/Exchange.asmx"

    def start(self) -> EwsServer:
        if self._ntlm is not None:
            self._ntlm.install(self._users)
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="ews-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()
        if self._ntlm is not None:
            self._ntlm.uninstall()

    def __enter__(self) -> EwsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test helpers -----------------------------------------------------------------------

    def add_user(self, username: str, password: str) -> None:
        with self._lock:
            self._users[username.lower()] = password
            if self._ntlm is not None and self._ntlm.installed:
                self._ntlm.install(self._users)

    def add_mailbox(self, address: str) -> None:
        address = address.lower()
        with self._lock:
            if address in self._mailboxes:
                return
            mailbox = _Mailbox(address)
            ids: dict[str, str] = {}
            for name, (display, parent, folder_class) in WELL_KNOWN_FOLDERS.items():
                ids[name] = _new_id()
                parent_id = ids[parent] if parent else None
                folder = _Folder(ids[name], _change_key(), display, parent_id, folder_class, name)
                mailbox.folders[folder.id] = folder
                self._folder_index[folder.id] = address
            self._mailboxes[address] = mailbox

    def issue_token(self, username: str) -> str:
        """An OAuth bearer token that authenticates as `username`."""
        token = "ews." + secrets.token_urlsafe(24)
        with self._lock:
            self._bearer_tokens[token] = username.lower()
        return token

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._bearer_tokens.pop(token, None)

    def grant(self, username: str, mailbox: str) -> None:
        """Full Access for `username` on `mailbox`."""
        with self._lock:
            self._access.setdefault(username.lower(), set()).add(mailbox.lower())

    def add_folder(
        self, name: str, parent: str = "msgfolderroot", mailbox: str | None = None
    ) -> str:
        """A mail folder under `parent` (distinguished name or id); returns its id."""
        with self._lock:
            box = self._mailbox(mailbox)
            parent_folder = self._folder_ref(box, parent)
            folder = _Folder(_new_id(), _change_key(), name, parent_folder.id, "IPF.Note")
            box.folders[folder.id] = folder
            self._folder_index[folder.id] = box.address
            return folder.id

    def deliver(
        self,
        raw: bytes,
        folder: str = "inbox",
        mailbox: str | None = None,
        received: datetime | None = None,
    ) -> str:
        """Put a message into a folder as the transport would; returns its item id."""
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder_ref(box, folder)
            item = self._store(box, target, raw, is_read=False, received=received)
            self._raise_event(box, "NewMailEvent", item.id, target.id)
            return item.id

    def messages(self, folder: str = "inbox", mailbox: str | None = None) -> list[StoredItem]:
        with self._lock:
            box = self._mailbox(mailbox)
            target = self._folder_ref(box, folder)
            return [
                StoredItem(i.id, i.raw, i.is_read, i.received)
                for i in box.items.values()
                if i.folder_id == target.id
            ]

    def expire_sync_states(self) -> None:
        """Forget every sync state: SyncFolderItems with one answers ErrorInvalidSyncStateData."""
        with self._lock:
            self._sync_states.clear()

    def expire_subscriptions(self) -> None:
        """Time every pull subscription out: GetEvents answers ErrorExpiredSubscription."""
        with self._lock:
            for subscription in self._subscriptions.values():
                subscription.expired = True

    def busy_next(self, n: int = 1, back_off_ms: int = 1000) -> None:
        """The next `n` requests get the ErrorServerBusy fault with BackOffMilliseconds."""
        with self._lock:
            self._busy.extend([back_off_ms] * n)

    # -- state (lock held) ------------------------------------------------------------------

    def _mailbox(self, address: str | None) -> _Mailbox:
        box = self._mailboxes.get((address or self.default_mailbox).lower())
        if box is None:
            raise EwsError("ErrorNonExistentMailbox", f"No mailbox with address {address}.")
        return box

    def _folder_ref(self, box: _Mailbox, ref: str) -> _Folder:
        for folder in box.folders.values():
            if ref in (folder.id, folder.distinguished):
                return folder
        raise EwsError(
            "ErrorFolderNotFound", "The specified folder could not be found in the store."
        )

    def _store(
        self,
        box: _Mailbox,
        folder: _Folder,
        raw: bytes,
        *,
        is_read: bool,
        received: datetime | None = None,
    ) -> _Item:
        now = datetime.now(UTC)
        item = _Item(
            id=_new_id(),
            change_key=_change_key(),
            folder_id=folder.id,
            raw=raw,
            is_read=is_read,
            received=received or now,
            created=now,
            version=1,
            summary=header_summary(raw),
        )
        box.items[item.id] = item
        self._item_index[item.id] = box.address
        self._raise_event(box, "CreatedEvent", item.id, folder.id)
        return item

    def _move(self, box: _Mailbox, item: _Item, destination: _Folder) -> _Item:
        """Exchange gives a moved item a new id; the old one stops resolving."""
        old_id, old_folder = item.id, item.folder_id
        del box.items[old_id]
        self._item_index.pop(old_id, None)
        item.id, item.change_key = _new_id(), _change_key()
        item.folder_id = destination.id
        item.version += 1
        box.items[item.id] = item
        self._item_index[item.id] = box.address
        self._raise_event(box, "MovedEvent", item.id, destination.id, old_id, old_folder)
        return item

    def _raise_event(
        self,
        box: _Mailbox,
        kind: str,
        item_id: str,
        folder_id: str,
        old_item_id: str | None = None,
        old_folder_id: str | None = None,
    ) -> None:
        for subscription in self._subscriptions.values():
            folders = subscription.folder_ids
            watched = folders is None or folder_id in folders or old_folder_id in folders
            if subscription.mailbox == box.address and watched and kind in subscription.event_types:
                self._event_seq += 1
                subscription.events.append(
                    _Event(self._event_seq, kind, item_id, folder_id, old_item_id, old_folder_id)
                )

    def _can_open(self, username: str, box: _Mailbox) -> None:
        if box.address not in self._access.get(username, set()):
            raise EwsError(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    # -- the SOAP layer ---------------------------------------------------------------------

    def authenticate(self, header: str | None) -> str | None:
        """The user a Basic or Bearer `Authorization` header proves, or None."""
        if header and header.lower().startswith("bearer "):
            with self._lock:
                return self._bearer_tokens.get(header[7:].strip())
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, password = decoded.partition(":")
        name = username.lower().rpartition("\\")[2]  # DOMAIN\user logs in as user
        with self._lock:
            for candidate in (username.lower(), name):
                if self._users.get(candidate) == password:
                    return candidate
        return None

    @property
    def offers_ntlm(self) -> bool:
        return self._ntlm is not None

    def user_for_ntlm(self, principal: str | None) -> str | None:
        """Our user for the principal an NTLM handshake proved (`DOMAIN\\user` or `user`)."""
        name = (principal or "").lower().rpartition("\\")[2]
        with self._lock:
            return name if name in self._users else None

    def handle(self, username: str, body: bytes) -> tuple[int, bytes]:
        """Answer one SOAP request: (HTTP status, envelope)."""
        try:
            envelope = ET.fromstring(body)  # noqa: S314 (the test's own client)
        except ET.ParseError as error:
            return 500, _fault("ErrorSchemaValidation", f"The request is not XML: {error}")
        request = envelope.find(f"{{{SOAP}}}Body")
        if request is None or len(request) == 0:
            return 500, _fault("ErrorSchemaValidation", "The request has no SOAP body.")
        operation = request[0]
        name = operation.tag.rpartition("}")[2]
        with self._lock:
            self.requests.append(name)
            if self._busy:
                return 500, _busy_fault(self._busy.popleft())
        handler = getattr(self, f"_op_{name}", None)
        if handler is None:
            return 500, _fault("ErrorInvalidOperation", f"The fake does not implement {name}.")
        response = ET.Element(_m(f"{name}Response"))
        messages = _sub(response, _m("ResponseMessages"))
        with self._lock:
            for result in handler(username, operation):
                messages.append(result)
        return 200, _envelope(response)

    # Each `_op_X` yields one `XResponseMessage` per element of the request.

    def _op_GetFolder(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        answers = []
        for ref in _children(op.find(_m("FolderIds"))):
            message = _message("GetFolder")
            try:
                box, folder = self._resolve_folder(username, ref)
                _ok(message)
                self._folder_xml(_sub(message, _m("Folders")), box, folder)
            except EwsError as error:
                _fail(message, error)
            answers.append(message)
        return answers

    def _op_ConvertId(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        answers = []
        for _ in _children(op.find(_m("SourceIds"))):
            message = _message("ConvertId")
            _fail(message, EwsError("ErrorInvalidIdMalformed", "Id is malformed."))
            answers.append(message)
        return answers

    def _op_FindFolder(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        deep = op.get("Traversal", "Shallow") == "Deep"
        view = op.find(_m("IndexedPageFolderView"))
        offset = int(view.get("Offset", "0")) if view is not None else 0
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        answers = []
        for ref in _children(op.find(_m("ParentFolderIds"))):
            message = _message("FindFolder")
            try:
                box, parent = self._resolve_folder(username, ref)
                found = self._descendants(box, parent.id, deep)
                page = found[offset : offset + limit]
                _ok(message)
                last = offset + len(page) >= len(found)
                root = _sub(
                    message,
                    _m("RootFolder"),
                    TotalItemsInView=str(len(found)),
                    IncludesLastItemInRange=str(last).lower(),
                    IndexedPagingOffset=str(offset + len(page)),
                )
                folders = _sub(root, _t("Folders"))
                for folder in page:
                    self._folder_xml(folders, box, folder)
            except EwsError as error:
                _fail(message, error)
            answers.append(message)
        return answers

    def _op_SyncFolderItems(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        message = _message("SyncFolderItems")
        try:
            box, folder = self._resolve_folder(username, _only_child(op.find(_m("SyncFolderId"))))
            token = (op.findtext(_m("SyncState")) or "").strip()
            if token:
                state = self._sync_states.get(token)
                if state is None or state.folder_id != folder.id:
                    raise EwsError(
                        "ErrorInvalidSyncStateData",
                        "Synchronization state data is corrupt or otherwise invalid.",
                    )
                known = dict(state.known)
            else:
                known = {}
            limit = min(int(op.findtext(_m("MaxChangesReturned")) or 512), _MAX_SYNC_CHANGES)
            for ignored in _children(op.find(_m("Ignore"))):
                item = box.items.get(ignored.get("Id", ""))
                if item is not None:
                    known[item.id] = (item.version, item.is_read)
            fields = _requested_fields(op.find(_m("ItemShape")), mime_allowed=False)
            changes, known, last = self._sync_changes(box, folder, known, limit)
            new_token = base64.b64encode(secrets.token_bytes(24)).decode()
            self._sync_states[new_token] = _SyncState(box.address, folder.id, known)
            _ok(message)
            _sub(message, _m("SyncState"), new_token)
            _sub(message, _m("IncludesLastItemInRange"), str(last).lower())
            container = _sub(message, _m("Changes"))
            for kind, item_id in changes:
                change = _sub(container, _t(kind))
                if kind == "Delete":
                    _sub(change, _t("ItemId"), Id=item_id)
                    continue
                item = box.items[item_id]
                if kind == "ReadFlagChange":
                    _sub(change, _t("ItemId"), Id=item.id, ChangeKey=item.change_key)
                    _sub(change, _t("IsRead"), str(item.is_read).lower())
                    continue
                self._item_xml(change, box, item, fields)
        except EwsError as error:
            message = _message("SyncFolderItems")
            _fail(message, error)
            _sub(message, _m("SyncState"))
            _sub(message, _m("IncludesLastItemInRange"), "true")
        return [message]

    def _sync_changes(
        self, box: _Mailbox, folder: _Folder, known: dict[str, tuple[int, bool]], limit: int
    ) -> tuple[list[tuple[str, str]], dict[str, tuple[int, bool]], bool]:
        """The changes since `known`, at most `limit`, and the state after sending them."""
        inside = [i for i in box.items.values() if i.folder_id == folder.id]
        inside.sort(key=lambda i: (i.created, i.id))
        pending: list[tuple[str, str]] = []
        for item in inside:
            seen = known.get(item.id)
            if seen is None:
                pending.append(("Create", item.id))
            elif seen[0] != item.version:
                pending.append(("Update", item.id))
            elif seen[1] != item.is_read:
                pending.append(("ReadFlagChange", item.id))
        present = {i.id for i in inside}
        pending.extend(("Delete", item_id) for item_id in known if item_id not in present)
        sent, rest = pending[:limit], pending[limit:]
        after = dict(known)
        for kind, item_id in sent:
            if kind == "Delete":
                after.pop(item_id, None)
            else:
                item = box.items[item_id]
                after[item_id] = (item.version, item.is_read)
        return sent, after, not rest

    def _op_GetItem(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        fields = _requested_fields(op.find(_m("ItemShape")), mime_allowed=True)
        answers = []
        for ref in _children(op.find(_m("ItemIds"))):
            message = _message("GetItem")
            try:
                box, item = self._resolve_item(username, ref)
                _ok(message)
                self._item_xml(_sub(message, _m("Items")), box, item, fields)
            except EwsError as error:
                _fail(message, error)
            answers.append(message)
        return answers

    def _op_UpdateItem(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        never_overwrite = op.get("ConflictResolution") == "NeverOverwrite"
        answers = []
        for change in _children(op.find(_m("ItemChanges"))):
            message = _message("UpdateItem")
            try:
                ref = change.find(_t("ItemId"))
                if ref is None:
                    raise EwsError("ErrorInvalidIdMalformed", "The ItemChange has no ItemId.")
                box, item = self._resolve_item(username, ref)
                stale = ref.get("ChangeKey") not in (None, item.change_key)
                if never_overwrite and stale:
                    raise EwsError(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the change "
                        "key passed in the request does not match the current change key for the "
                        "item.",
                    )
                for update in _children(change.find(_t("Updates"))):
                    uri = update.find(_t("FieldURI"))
                    value = update.findtext(f"{_t('Message')}/{_t('IsRead')}")
                    kind = update.tag.rpartition("}")[2]
                    if (
                        kind != "SetItemField"
                        or uri is None
                        or uri.get("FieldURI") != "message:IsRead"
                    ):
                        raise EwsError(
                            "ErrorInvalidPropertySet", "The fake can only set message:IsRead."
                        )
                    is_read = _xs_boolean(value)
                    if is_read != item.is_read:
                        item.is_read = is_read
                        item.change_key = _change_key()
                        self._raise_event(box, "ModifiedEvent", item.id, item.folder_id)
                _ok(message)
                items = _sub(message, _m("Items"))
                self._item_xml(items, box, item, ())
                conflicts = _sub(message, _m("ConflictResults"))
                _sub(conflicts, _t("Count"), "0")
            except EwsError as error:
                _fail(message, error)
            answers.append(message)
        return answers

    def _op_MoveItem(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        answers = []
        try:
            target_box, target = self._resolve_folder(
                username, _only_child(op.find(_m("ToFolderId")))
            )
        except EwsError as error:
            message = _message("MoveItem")
            _fail(message, error)
            return [message]
        for ref in _children(op.find(_m("ItemIds"))):
            message = _message("MoveItem")
            try:
                box, item = self._resolve_item(username, ref)
                if box is not target_box:
                    raise EwsError(
                        "ErrorCrossMailboxMoveCopy", "The fake moves within one mailbox."
                    )
                moved = self._move(box, item, target)
                _ok(message)
                self._item_xml(_sub(message, _m("Items")), box, moved, ())
            except EwsError as error:
                _fail(message, error)
            answers.append(message)
        return answers

    def _op_DeleteItem(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        delete_type = op.get("DeleteType", "HardDelete")
        answers = []
        for ref in _children(op.find(_m("ItemIds"))):
            message = _message("DeleteItem")
            try:
                box, item = self._resolve_item(username, ref)
                if delete_type == "MoveToDeletedItems":
                    self._move(box, item, self._folder_ref(box, "deleteditems"))
                else:
                    folder_id = item.folder_id
                    if delete_type == "SoftDelete":
                        hidden = self._folder_ref(box, "recoverableitemsdeletions")
                        del box.items[item.id]
                        self._item_index.pop(item.id, None)
                        item.id, item.folder_id = _new_id(), hidden.id
                        box.items[item.id] = item
                        self._item_index[item.id] = box.address
                    else:
                        del box.items[item.id]
                        self._item_index.pop(item.id, None)
                    self._raise_event(box, "DeletedEvent", ref.get("Id", ""), folder_id)
                _ok(message)
            except EwsError as error:
                _fail(message, error)
            answers.append(message)
        return answers

    def _op_CreateItem(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        disposition = op.get("MessageDisposition", "SaveOnly")
        saved = op.find(_m("SavedItemFolderId"))
        answers = []
        for element in _children(op.find(_m("Items"))):
            message = _message("CreateItem")
            try:
                if element.tag != _t("Message"):
                    raise EwsError(
                        "ErrorInvalidItemForOperation", "The fake creates only messages."
                    )
                encoded = element.findtext(_t("MimeContent")) or ""
                try:
                    raw = base64.b64decode("".join(encoded.split()), validate=True)
                except (binascii.Error, ValueError) as error:
                    raise EwsError(
                        "ErrorMimeContentConversionFailed", "MIME content is not base64."
                    ) from error
                if not raw:
                    raise EwsError(
                        "ErrorMimeContentConversionFailed", "The fake needs MimeContent."
                    )
                if saved is not None:
                    box, folder = self._resolve_folder(username, _only_child(saved))
                else:
                    box = self._mailbox(None)
                    self._can_open(username, box)
                    folder = self._folder_ref(
                        box, "drafts" if disposition == "SaveOnly" else "sentitems"
                    )
                created = self._create(box, folder, raw, element, disposition)
                _ok(message)
                items = _sub(message, _m("Items"))
                if created is not None:
                    self._item_xml(items, box, created, ())
            except EwsError as error:
                _fail(message, error)
            answers.append(message)
        return answers

    def _create(
        self, box: _Mailbox, folder: _Folder, raw: bytes, element: ET.Element, disposition: str
    ) -> _Item | None:
        if disposition == "SaveOnly":
            return self._store(box, folder, raw, is_read=True)
        summary = header_summary(raw)
        sender = (summary["from"] or {}).get("emailAddress", {}).get("address")
        if sender and sender.lower() != box.address:
            raise EwsError(
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does not have the right "
                "to send mail on behalf of the specified sending account.",
            )
        recipients = [
            entry["emailAddress"]["address"].lower()
            for key in ("toRecipients", "ccRecipients", "bccRecipients")
            for entry in summary[key]
        ]
        for key in ("ToRecipients", "CcRecipients", "BccRecipients"):
            for address in element.iterfind(f"{_t(key)}/{_t('Mailbox')}/{_t('EmailAddress')}"):
                if address.text and address.text.lower() not in recipients:
                    recipients.append(address.text.lower())
        if not recipients:
            raise EwsError("ErrorInvalidRecipients", "At least one recipient isn't valid.")
        raw = stamp_missing_headers(raw, box.address)
        if disposition == "SendAndSaveCopy":
            self._store(box, folder, raw, is_read=True)
        delivered = strip_header(raw, b"Bcc")
        for recipient in recipients:
            target = self._mailboxes.get(recipient)
            if target is not None:
                item = self._store(
                    target, self._folder_ref(target, "inbox"), delivered, is_read=False
                )
                self._raise_event(target, "NewMailEvent", item.id, item.folder_id)
        self.outbox.append(SentMail(box.address, tuple(recipients), raw))
        return None  # a sent message's id is not returned

    def _op_Subscribe(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        message = _message("Subscribe")
        try:
            request = op.find(_m("PullSubscriptionRequest"))
            if request is None:
                raise EwsError(
                    "ErrorInvalidSubscriptionRequest", "The fake offers pull subscriptions only."
                )
            boxes: set[str] = set()
            folder_ids: set[str] | None = None
            if not _xs_boolean(request.get("SubscribeToAllFolders")):
                folder_ids = set()
                for ref in _children(request.find(_t("FolderIds"))):
                    box, folder = self._resolve_folder(username, ref)
                    boxes.add(box.address)
                    folder_ids.add(folder.id)
            else:
                box = self._mailbox(None)
                self._can_open(username, box)
                boxes.add(box.address)
            if len(boxes) != 1:
                raise EwsError("ErrorInvalidSubscriptionRequest", "Subscribe to one mailbox.")
            events = {
                e.text.strip()
                for e in request.iterfind(f"{_t('EventTypes')}/{_t('EventType')}")
                if e.text
            }
            subscription = _Subscription(
                id=base64.b64encode(uuid.uuid4().bytes + secrets.token_bytes(8)).decode(),
                mailbox=boxes.pop(),
                folder_ids=folder_ids,
                event_types=events,
                last_seq=self._event_seq,
            )
            self._subscriptions[subscription.id] = subscription
            _ok(message)
            _sub(message, _m("SubscriptionId"), subscription.id)
            _sub(message, _m("Watermark"), _watermark(subscription.last_seq))
        except EwsError as error:
            _fail(message, error)
        return [message]

    def _op_GetEvents(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        message = _message("GetEvents")
        try:
            subscription = self._subscription(op.findtext(_m("SubscriptionId")) or "")
            given = op.findtext(_m("Watermark")) or ""
            position = _watermark_seq(given)
            if position is None or position > self._event_seq or position < subscription.last_seq:
                raise EwsError("ErrorInvalidWatermark", "The watermark is not valid.")
            waiting = [e for e in subscription.events if e.seq > position]
            batch, more = waiting[:_MAX_EVENTS], len(waiting) > _MAX_EVENTS
            subscription.last_seq = batch[-1].seq if batch else position
            subscription.events = [e for e in subscription.events if e.seq > subscription.last_seq]
            _ok(message)
            notification = _sub(message, _m("Notification"))
            _sub(notification, _t("SubscriptionId"), subscription.id)
            _sub(notification, _t("PreviousWatermark"), given)
            _sub(notification, _t("MoreEvents"), str(more).lower())
            if not batch:
                status = _sub(notification, _t("StatusEvent"))
                _sub(status, _t("Watermark"), given)
            for event in batch:
                self._event_xml(notification, event)
        except EwsError as error:
            _fail(message, error)
        return [message]

    def _op_Unsubscribe(self, username: str, op: ET.Element) -> list[ET.Element]:  # noqa: N802
        message = _message("Unsubscribe")
        try:
            subscription = self._subscription(op.findtext(_m("SubscriptionId")) or "")
            del self._subscriptions[subscription.id]
            _ok(message)
        except EwsError as error:
            _fail(message, error)
        return [message]

    def _subscription(self, subscription_id: str) -> _Subscription:
        subscription = self._subscriptions.get(subscription_id.strip())
        if subscription is None:
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        if subscription.expired:
            raise EwsError("ErrorExpiredSubscription", "The subscription has expired.")
        return subscription

    # -- resolving ids ----------------------------------------------------------------------

    def _resolve_folder(self, username: str, ref: ET.Element) -> tuple[_Mailbox, _Folder]:
        kind = ref.tag.rpartition("}")[2]
        if kind == "DistinguishedFolderId":
            address = ref.findtext(f"{_t('Mailbox')}/{_t('EmailAddress')}")
            box = self._mailbox(address)
            self._can_open(username, box)
            return box, self._folder_ref(box, ref.get("Id", ""))
        if kind == "FolderId":
            folder_id = ref.get("Id", "")
            owner = self._folder_index.get(folder_id)
            if owner is None:
                raise EwsError(
                    "ErrorFolderNotFound", "The specified folder could not be found in the store."
                )
            box = self._mailboxes[owner]
            self._can_open(username, box)
            return box, box.folders[folder_id]
        raise EwsError("ErrorInvalidIdMalformed", f"Unexpected folder id element {kind}.")

    def _resolve_item(self, username: str, ref: ET.Element) -> tuple[_Mailbox, _Item]:
        item_id = ref.get("Id", "")
        owner = self._item_index.get(item_id)
        box = self._mailboxes.get(owner or "")
        if box is None or item_id not in box.items:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        self._can_open(username, box)
        return box, box.items[item_id]

    def _descendants(self, box: _Mailbox, parent_id: str, deep: bool) -> list[_Folder]:
        found: list[_Folder] = []
        for folder in box.folders.values():
            if folder.parent_id == parent_id:
                found.append(folder)
                if deep:
                    found.extend(self._descendants(box, folder.id, deep))
        return found

    # -- XML out ----------------------------------------------------------------------------

    def _folder_xml(self, parent: ET.Element, box: _Mailbox, folder: _Folder) -> None:
        element = _sub(parent, _t("Folder"))
        _sub(element, _t("FolderId"), Id=folder.id, ChangeKey=folder.change_key)
        if folder.parent_id is not None:
            parent_folder = box.folders[folder.parent_id]
            _sub(
                element,
                _t("ParentFolderId"),
                Id=parent_folder.id,
                ChangeKey=parent_folder.change_key,
            )
        if folder.folder_class is not None:
            _sub(element, _t("FolderClass"), folder.folder_class)
        _sub(element, _t("DisplayName"), folder.name)
        inside = [i for i in box.items.values() if i.folder_id == folder.id]
        _sub(element, _t("TotalCount"), str(len(inside)))
        children = sum(1 for f in box.folders.values() if f.parent_id == folder.id)
        _sub(element, _t("ChildFolderCount"), str(children))
        _sub(element, _t("UnreadCount"), str(sum(1 for i in inside if not i.is_read)))

    def _item_xml(
        self, parent: ET.Element, box: _Mailbox, item: _Item, fields: tuple[str, ...]
    ) -> None:
        element = _sub(parent, _t("Message"))
        summary = item.summary
        folder = box.folders[item.folder_id]
        for uri in ("item:MimeContent", "item:ItemId", *ITEM_FIELDS[1:]):
            if uri == "item:ItemId":
                _sub(element, _t("ItemId"), Id=item.id, ChangeKey=item.change_key)
            elif uri not in fields:
                continue
            elif uri == "item:MimeContent":
                encoded = base64.b64encode(item.raw).decode()
                _sub(element, _t("MimeContent"), encoded, CharacterSet="UTF-8")
            elif uri == "item:ParentFolderId":
                _sub(element, _t("ParentFolderId"), Id=folder.id, ChangeKey=folder.change_key)
            elif uri == "item:ItemClass":
                _sub(element, _t("ItemClass"), "IPM.Note")
            elif uri == "item:Subject":
                _sub(element, _t("Subject"), summary["subject"])
            elif uri == "item:DateTimeReceived":
                _sub(element, _t("DateTimeReceived"), _iso(item.received))
            elif uri == "item:Size":
                _sub(element, _t("Size"), str(len(item.raw)))
            elif uri == "item:HasAttachments":
                _sub(element, _t("HasAttachments"), str(summary["hasAttachments"]).lower())
            elif uri == "item:DateTimeSent" and summary["sentDateTime"]:
                _sub(element, _t("DateTimeSent"), summary["sentDateTime"])
            elif uri == "item:DateTimeCreated":
                _sub(element, _t("DateTimeCreated"), _iso(item.created))
            elif uri == "message:Sender" and summary["sender"]:
                _mailbox_xml(_sub(element, _t("Sender")), summary["sender"])
            elif uri == "message:ToRecipients" and summary["toRecipients"]:
                recipients = _sub(element, _t("ToRecipients"))
                for entry in summary["toRecipients"]:
                    _mailbox_xml(recipients, entry)
            elif uri == "message:CcRecipients" and summary["ccRecipients"]:
                recipients = _sub(element, _t("CcRecipients"))
                for entry in summary["ccRecipients"]:
                    _mailbox_xml(recipients, entry)
            elif uri == "message:IsRead":
                _sub(element, _t("IsRead"), str(item.is_read).lower())
            elif uri == "message:From" and summary["from"]:
                _mailbox_xml(_sub(element, _t("From")), summary["from"])
            elif uri == "message:InternetMessageId" and summary["internetMessageId"]:
                _sub(element, _t("InternetMessageId"), summary["internetMessageId"])

    def _event_xml(self, parent: ET.Element, event: _Event) -> None:
        element = _sub(parent, _t(event.kind))
        _sub(element, _t("Watermark"), _watermark(event.seq))
        _sub(element, _t("TimeStamp"), _iso(event.when))
        _sub(element, _t("ItemId"), Id=event.item_id)
        _sub(element, _t("ParentFolderId"), Id=event.folder_id)
        if event.old_item_id is not None:
            _sub(element, _t("OldItemId"), Id=event.old_item_id)
        if event.old_folder_id is not None:
            _sub(element, _t("OldParentFolderId"), Id=event.old_folder_id)


def _mailbox_xml(parent: ET.Element, entry: dict[str, Any]) -> None:
    mailbox = _sub(parent, _t("Mailbox"))
    _sub(mailbox, _t("Name"), entry["emailAddress"]["name"])
    _sub(mailbox, _t("EmailAddress"), entry["emailAddress"]["address"])
    _sub(mailbox, _t("RoutingType"), "SMTP")
    _sub(mailbox, _t("MailboxType"), "OneOff")


def _requested_fields(shape: ET.Element | None, *, mime_allowed: bool) -> tuple[str, ...]:
    """The FieldURIs a response shape asks for (BaseShape plus AdditionalProperties)."""
    if shape is None:
        return ()
    base = (shape.findtext(_t("BaseShape")) or "IdOnly").strip()
    fields = set(ITEM_FIELDS[1:]) if base in ("Default", "AllProperties") else set()
    for uri in shape.iterfind(f"{_t('AdditionalProperties')}/{_t('FieldURI')}"):
        fields.add(uri.get("FieldURI", ""))
    if _xs_boolean(shape.findtext(_t("IncludeMimeContent"))):
        fields.add("item:MimeContent")
    if not mime_allowed:
        fields.discard("item:MimeContent")
    return tuple(f for f in ITEM_FIELDS if f in fields)


def _xs_boolean(value: str | None) -> bool:
    """An xs:boolean: "true" or "1" (exchangelib sends the latter)."""
    return (value or "").strip().lower() in ("true", "1")


def _watermark(seq: int) -> str:
    return base64.b64encode(f"wm:{seq}".encode()).decode()


def _watermark_seq(watermark: str) -> int | None:
    try:
        text = base64.b64decode(watermark.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "wm" and number.isdigit() else None


def _children(element: ET.Element | None) -> list[ET.Element]:
    return list(element) if element is not None else []


def _only_child(element: ET.Element | None) -> ET.Element:
    if element is None or len(element) != 1:
        raise EwsError("ErrorInvalidIdMalformed", "Expected exactly one folder id.")
    return element[0]


def _message(operation: str) -> ET.Element:
    return ET.Element(_m(f"{operation}ResponseMessage"))


def _ok(message: ET.Element) -> None:
    message.set("ResponseClass", "Success")
    _sub(message, _m("ResponseCode"), "NoError")


def _fail(message: ET.Element, error: EwsError) -> None:
    message.set("ResponseClass", "Error")
    _sub(message, _m("MessageText"), error.text)
    _sub(message, _m("ResponseCode"), error.code)
    _sub(message, _m("DescriptiveLinkKey"), "0")


def _envelope(response: ET.Element) -> bytes:
    envelope = ET.Element(f"{{{SOAP}}}Envelope")
    header = _sub(envelope, f"{{{SOAP}}}Header")
    _sub(
        header,
        _t("ServerVersionInfo"),
        MajorVersion="15",
        MinorVersion="1",
        MajorBuildNumber="2507",
        MinorBuildNumber="6",
        Version="Exchange2016",
    )
    _sub(envelope, f"{{{SOAP}}}Body").append(response)
    data: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return data


def _fault(code: str, text: str, back_off_ms: int | None = None) -> bytes:
    envelope = ET.Element(f"{{{SOAP}}}Envelope")
    fault = _sub(_sub(envelope, f"{{{SOAP}}}Body"), f"{{{SOAP}}}Fault")
    _sub(fault, "faultcode", f"a:{code}")
    _sub(fault, "faultstring", text)
    detail = _sub(fault, "detail")
    _sub(detail, f"{{{ENS}}}ResponseCode", code)
    _sub(detail, f"{{{ENS}}}Message", text)
    if back_off_ms is not None:
        xml = _sub(detail, _t("MessageXml"))
        _sub(xml, _t("Value"), str(back_off_ms), Name="BackOffMilliseconds")
    data: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return data


def _busy_fault(back_off_ms: int) -> bytes:
    return _fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        back_off_ms,
    )


class _NtlmUsers:
    """The NTLM acceptor's credential file.

    pyspnego (a dependency of requests_ntlm, which exchangelib uses for NTLM) checks an NTLM
    response against the file named by the `NTLM_USER_FILE` environment variable, lines of
    `DOMAIN:user:password`. The variable is process-wide: it is set while an NTLM-enabled
    fake runs and put back when it stops, so only one such fake should run at a time.
    """

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.installed = False
        self._previous: str | None = None
        self._path: str | None = None

    def install(self, users: dict[str, str]) -> None:
        lines = []
        for user, password in users.items():
            lines += [f":{user}:{password}", f"{self.domain}:{user}:{password}"]
        if self._path is None:
            handle, self._path = tempfile.mkstemp(prefix="ews-ntlm-", suffix=".txt")
            os.close(handle)
            self._previous = os.environ.get("NTLM_USER_FILE")
        with open(self._path, "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
        os.environ["NTLM_USER_FILE"] = self._path
        self.installed = True

    def uninstall(self) -> None:
        if self._path is None:
            return
        if self._previous is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = self._previous
        os.unlink(self._path)
        self._path = None
        self.installed = False


def _handler_for(server: EwsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: NTLM authenticates the connection
        # Headers and a small body leave as two writes; without TCP_NODELAY the second waits
        # for the client's delayed ACK (some 40 ms a response).
        disable_nagle_algorithm = True

        # NTLM state of this connection (one handler instance serves one connection).
        ntlm_context: Any = None
        ntlm_user: str | None = None

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output quiet

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.split("?")[0].lower() != "/ews/exchange.asmx":
                self._send(404, b"", "text/plain")
                return
            header = self.headers.get("Authorization") or ""
            if server.offers_ntlm and header.lower().startswith(("ntlm ", "negotiate ")):
                username = self._ntlm_step(header)
                if username is None:
                    return  # a challenge or a refusal was sent
            elif header:
                username = server.authenticate(header)
            else:
                username = self.ntlm_user  # a connection NTLM authenticated earlier
            if username is None:
                self._challenge()
                return
            status, answer = server.handle(username, body)
            self._send(status, answer, "text/xml; charset=utf-8")

        def _ntlm_step(self, header: str) -> str | None:
            """One leg of the NTLM handshake; the user once it completes."""
            import spnego  # only needed when NTLM is on; comes with requests_ntlm

            token = base64.b64decode(header.partition(" ")[2].strip())
            if self.ntlm_context is None or token[8:12] == b"\x01\x00\x00\x00":  # NEGOTIATE
                self.ntlm_context = spnego.server(protocol="ntlm")
            try:
                answer = self.ntlm_context.step(token)
            except spnego.exceptions.SpnegoError:
                self.ntlm_context = None
                self._challenge()
                return None
            if not self.ntlm_context.complete:
                challenge = "NTLM " + base64.b64encode(answer or b"").decode()
                self._send(401, b"", "text/plain", {"WWW-Authenticate": challenge})
                return None
            self.ntlm_user = server.user_for_ntlm(self.ntlm_context.client_principal)
            self.ntlm_context = None
            if self.ntlm_user is None:
                self._challenge()
            return self.ntlm_user

        def _challenge(self) -> None:
            schemes = ['Basic realm="127.0.0.1"'] + (["NTLM"] if server.offers_ntlm else [])
            self.send_response(401)
            self.send_header("Content-Type", "text/plain")
            for scheme in schemes:
                self.send_header("WWW-Authenticate", scheme)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
