"""The fake Graph server, driven by `requests` the way a connector would drive Graph."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from deskmail.testing.graphserver import GraphServer, Principal, introspected_by
from deskmail.testing.tokenserver import TokenServer

AGENT = "agent@helpdesk.test"
SHARED = "support@helpdesk.test"
CUSTOMER = "customer@helpdesk.test"
APP = "0b8a7c2e-5f0d-4c1e-9a3b-2d6f1e4c8b70"


def mime(subject: str, sender: str = "someone@example.test", to: str = SHARED) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.test>\r\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nHello.\r\n"
    ).encode()


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    with GraphServer() as server:
        for address in (AGENT, SHARED, CUSTOMER):
            server.add_mailbox(address)
        yield server


def session_for(graph: GraphServer, token: str, *prefer: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    if prefer:
        session.headers["Prefer"] = ", ".join(prefer)
    return session


@pytest.fixture
def app(graph: GraphServer) -> requests.Session:
    """An application with Mail.ReadWrite and Mail.Send on the shared mailbox."""
    permissions = {"Mail.ReadWrite", "Mail.Send"}
    graph.grant(APP, SHARED, permissions)
    return session_for(graph, graph.issue_token(APP, permissions, application=True))


def delta_round(session: requests.Session, url: str) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (entries, deltaLink, pages)."""
    entries: list[dict[str, Any]] = []
    pages = 0
    while True:
        answer = session.get(url, timeout=5)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages += 1
        entries.extend(page["value"])
        if "@odata.deltaLink" in page:
            assert "@odata.nextLink" not in page
            return entries, page["@odata.deltaLink"], pages
        url = page["@odata.nextLink"]
        assert "$skiptoken=" in url


def inbox_delta(graph: GraphServer, mailbox: str = SHARED) -> str:
    return f"{graph.graph_url}/users/{mailbox}/mailFolders/inbox/messages/delta"


# -- delta ------------------------------------------------------------------------------------


def test_it_pages_a_delta_round_then_reports_only_later_changes(
    graph: GraphServer, app: requests.Session
) -> None:
    ids = [graph.deliver(SHARED, mime(f"Ticket {n}")) for n in range(5)]
    app.headers["Prefer"] = 'odata.maxpagesize=2, IdType="ImmutableId"'

    entries, delta_link, pages = delta_round(app, inbox_delta(graph) + "?$select=subject,isRead")
    assert pages == 3
    assert [e["id"] for e in entries] == ids
    assert set(entries[0]) == {"@odata.type", "@odata.etag", "id", "subject", "isRead"}
    assert "$deltatoken=" in delta_link

    base = f"{graph.graph_url}/users/{SHARED}/messages"
    assert app.patch(f"{base}/{ids[0]}", json={"isRead": True}, timeout=5).status_code == 200
    assert app.delete(f"{base}/{ids[1]}", timeout=5).status_code == 204
    moved = app.post(f"{base}/{ids[2]}/move", json={"destinationId": "deleteditems"}, timeout=5)
    assert moved.status_code == 201
    new = graph.deliver(SHARED, mime("Ticket 5"))

    changes, _, _ = delta_round(app, delta_link)
    by_id = {e["id"]: e for e in changes}
    assert set(by_id) == {ids[0], ids[1], ids[2], new}
    assert by_id[ids[0]]["isRead"] is True
    assert by_id[ids[1]]["@removed"] == {"reason": "deleted"}
    assert by_id[ids[2]]["@removed"] == {"reason": "changed"}
    assert by_id[new]["subject"] == "Ticket 5"


def test_it_reports_nothing_new_when_nothing_changed(
    graph: GraphServer, app: requests.Session
) -> None:
    graph.deliver(SHARED, mime("Only"))
    _, delta_link, _ = delta_round(app, inbox_delta(graph))
    changes, next_link, _ = delta_round(app, delta_link)
    assert changes == []
    assert next_link != delta_link


def test_it_filters_a_round_by_change_type_and_received_date(
    graph: GraphServer, app: requests.Session
) -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    graph.deliver(SHARED, mime("Old"), received=old)
    kept = graph.deliver(SHARED, mime("Recent"), received=old + timedelta(days=30))
    app.headers["Prefer"] = 'IdType="ImmutableId"'
    url = (
        inbox_delta(graph) + "?changeType=created&$filter=receivedDateTime ge 2026-01-15T00:00:00Z"
    )

    entries, delta_link, _ = delta_round(app, url)
    assert [e["id"] for e in entries] == [kept]

    app.patch(f"{graph.graph_url}/users/{SHARED}/messages/{kept}", json={"isRead": True}, timeout=5)
    created = graph.deliver(SHARED, mime("Newer"))
    changes, _, _ = delta_round(app, delta_link)
    assert [e["id"] for e in changes] == [created]  # the update is filtered out


def test_it_refuses_any_other_delta_filter(graph: GraphServer, app: requests.Session) -> None:
    answer = app.get(inbox_delta(graph) + "?$filter=isRead eq false", timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ErrorInvalidUrlQueryFilter"


def test_it_answers_410_for_an_expired_or_unknown_delta_token(
    graph: GraphServer, app: requests.Session
) -> None:
    graph.deliver(SHARED, mime("One"))
    _, delta_link, _ = delta_round(app, inbox_delta(graph))
    graph.expire_delta_tokens()
    for url in (delta_link, inbox_delta(graph) + "?$deltatoken=made-up"):
        answer = app.get(url, timeout=5)
        assert answer.status_code == 410
        assert answer.json()["error"]["code"] == "SyncStateNotFound"


def test_it_answers_a_repeated_skip_or_delta_token_as_the_first_time(
    graph: GraphServer, app: requests.Session
) -> None:
    ids = [graph.deliver(SHARED, mime(f"Ticket {n}")) for n in range(3)]
    app.headers["Prefer"] = 'odata.maxpagesize=2, IdType="ImmutableId"'
    first = app.get(inbox_delta(graph), timeout=5).json()
    next_link = first["@odata.nextLink"]
    pages = [app.get(next_link, timeout=5).json() for _ in range(2)]
    assert [[e["id"] for e in page["value"]] for page in pages] == [ids[2:], ids[2:]]
    delta_link = pages[0]["@odata.deltaLink"]
    new = graph.deliver(SHARED, mime("Ticket 3"))
    for _ in range(2):
        assert [e["id"] for e in app.get(delta_link, timeout=5).json()["value"]] == [new]


def test_it_asks_for_a_full_resync_with_a_location(
    graph: GraphServer, app: requests.Session
) -> None:
    _, delta_link, _ = delta_round(app, inbox_delta(graph))
    graph.require_resync()
    answer = app.get(delta_link, timeout=5)
    assert answer.status_code == 410
    assert answer.json()["error"]["code"] == "resyncRequired"
    assert answer.headers["Location"].endswith("/messages/delta?$deltatoken=")


def test_it_keeps_immutable_ids_across_moves_and_changes_regular_ones(
    graph: GraphServer, app: requests.Session
) -> None:
    graph.deliver(SHARED, mime("Moving"))
    base = f"{graph.graph_url}/users/{SHARED}"
    regular = app.get(f"{base}/mailFolders/inbox/messages", timeout=5).json()["value"][0]["id"]
    immutable_headers = {"Prefer": 'IdType="ImmutableId"'}
    answer = app.get(f"{base}/mailFolders/inbox/messages", headers=immutable_headers, timeout=5)
    assert answer.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    immutable = answer.json()["value"][0]["id"]
    assert immutable != regular

    moved = app.post(
        f"{base}/messages/{immutable}/move",
        json={"destinationId": "deleteditems"},
        headers=immutable_headers,
        timeout=5,
    ).json()
    assert moved["id"] == immutable
    assert app.get(f"{base}/messages/{immutable}", timeout=5).status_code == 200
    assert app.get(f"{base}/messages/{regular}", timeout=5).status_code == 404


# -- messages and folders ---------------------------------------------------------------------


def test_it_serves_the_delivered_bytes_as_value(graph: GraphServer, app: requests.Session) -> None:
    raw = mime("Bytes") + b"Caf\xc3\xa9 \xff\r\n"
    message_id = graph.deliver(SHARED, raw)
    answer = app.get(f"{graph.graph_url}/users/{SHARED}/messages/{message_id}/$value", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.content == raw


def test_it_describes_a_message_from_its_headers(graph: GraphServer, app: requests.Session) -> None:
    message_id = graph.deliver(SHARED, mime("Printer broken", sender="Ann <ann@example.test>"))
    message = app.get(f"{graph.graph_url}/users/{SHARED}/messages/{message_id}", timeout=5).json()
    assert message["subject"] == "Printer broken"
    assert message["from"] == {"emailAddress": {"name": "Ann", "address": "ann@example.test"}}
    assert message["internetMessageId"] == "<Printer.broken@example.test>"
    assert message["isRead"] is False


def test_it_lists_creates_and_nests_folders(graph: GraphServer, app: requests.Session) -> None:
    base = f"{graph.graph_url}/users/{SHARED}/mailFolders"
    names = {f["displayName"] for f in app.get(base, timeout=5).json()["value"]}
    assert {"Inbox", "Sent Items", "Deleted Items"} <= names

    created = app.post(base, json={"displayName": "Done"}, timeout=5)
    assert created.status_code == 201
    done = created.json()["id"]
    child = app.post(f"{base}/{done}/childFolders", json={"displayName": "2026"}, timeout=5)
    assert child.status_code == 201
    children = app.get(f"{base}/{done}/childFolders", timeout=5).json()["value"]
    assert [c["displayName"] for c in children] == ["2026"]
    again = app.post(base, json={"displayName": "done"}, timeout=5)
    assert again.status_code == 409

    message_id = graph.deliver(SHARED, mime("File me"))
    app.post(
        f"{graph.graph_url}/users/{SHARED}/messages/{message_id}/move",
        json={"destinationId": done},
        timeout=5,
    )
    assert [m.id for m in graph.messages(SHARED, done)] == [message_id]
    assert app.get(f"{base}/{done}", timeout=5).json()["totalItemCount"] == 1


# -- sending ----------------------------------------------------------------------------------


def send_mime(session: requests.Session, url: str, raw: bytes) -> requests.Response:
    body = base64.encodebytes(raw)  # line-wrapped, as in Microsoft's example
    return session.post(url, data=body, headers={"Content-Type": "text/plain"}, timeout=5)


def test_it_keeps_the_sent_copy_in_the_sent_items_of_the_mailbox_the_url_names(
    graph: GraphServer,
) -> None:
    graph.grant(AGENT, SHARED, {"FullAccess", "SendAs"})
    agent = session_for(
        graph, graph.issue_token(AGENT, {"Mail.ReadWrite.Shared", "Mail.Send.Shared"})
    )
    raw = (
        f"From: {SHARED}\r\nTo: {CUSTOMER}\r\nBcc: audit@elsewhere.test\r\n"
        "Subject: Re: Printer\r\n\r\nFixed.\r\n"
    ).encode()

    answer = send_mime(agent, f"{graph.graph_url}/users/{SHARED}/sendMail", raw)

    assert answer.status_code == 202 and answer.content == b""
    [copy] = graph.messages(SHARED, "sentitems")
    assert copy.raw.endswith(raw) and copy.is_read
    assert graph.messages(AGENT, "sentitems") == []
    [delivered] = graph.messages(CUSTOMER, "inbox")
    assert b"Bcc:" not in delivered.raw and b"Subject: Re: Printer" in delivered.raw
    assert graph.outbox[-1].recipients == (CUSTOMER, "audit@elsewhere.test")


def test_it_refuses_to_send_as_another_address_from_ones_own_mailbox(graph: GraphServer) -> None:
    agent = session_for(graph, graph.issue_token(AGENT, {"Mail.Send"}))
    raw = f"From: {SHARED}\r\nTo: {CUSTOMER}\r\nSubject: Hi\r\n\r\nx\r\n".encode()
    answer = send_mime(agent, f"{graph.graph_url}/me/sendMail", raw)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorSendAsDenied"
    assert graph.messages(CUSTOMER) == []


def test_it_refuses_mime_that_is_not_base64(graph: GraphServer, app: requests.Session) -> None:
    answer = app.post(
        f"{graph.graph_url}/users/{SHARED}/sendMail",
        data=b"From: x\r\n\r\nnot base64!",
        headers={"Content-Type": "text/plain"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ErrorMimeContentInvalidBase64String"


def test_it_throttles_sending_past_the_message_rate(
    graph: GraphServer, app: requests.Session
) -> None:
    graph.send_limit_per_minute = 2
    url = f"{graph.graph_url}/users/{SHARED}/sendMail"
    raw = f"To: {CUSTOMER}\r\nSubject: Hi\r\n\r\nx\r\n".encode()
    assert [send_mime(app, url, raw).status_code for _ in range(2)] == [202, 202]
    third = send_mime(app, url, raw)
    assert third.status_code == 429
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert len(graph.messages(CUSTOMER)) == 2


# -- authentication and permissions -----------------------------------------------------------


def test_it_answers_401_without_a_valid_token(graph: GraphServer) -> None:
    url = f"{graph.graph_url}/users/{SHARED}/mailFolders"
    for headers in ({}, {"Authorization": "Bearer forged"}):
        answer = requests.get(url, headers=headers, timeout=5)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    revoked = graph.issue_token(AGENT, {"Mail.Read"})
    graph.revoke_token(revoked)
    answer = requests.get(url, headers={"Authorization": f"Bearer {revoked}"}, timeout=5)
    assert answer.status_code == 401


def test_it_asks_a_custom_validator_about_tokens() -> None:
    def validator(token: str) -> Principal | None:
        return Principal(AGENT, frozenset({"Mail.Read"})) if token == "from-idp" else None

    with GraphServer(validator=validator) as server:
        server.add_mailbox(AGENT)
        url = f"{server.graph_url}/me/mailFolders"
        good = requests.get(url, headers={"Authorization": "Bearer from-idp"}, timeout=5)
        bad = requests.get(url, headers={"Authorization": "Bearer other"}, timeout=5)
    assert (good.status_code, bad.status_code) == (200, 401)


def test_it_lets_a_delegate_into_a_shared_mailbox_only_with_full_access(
    graph: GraphServer,
) -> None:
    graph.deliver(SHARED, mime("Shared"))
    agent = session_for(graph, graph.issue_token(AGENT, {"Mail.ReadWrite.Shared"}))
    url = inbox_delta(graph)

    denied = agent.get(url, timeout=5)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"

    graph.grant(AGENT, SHARED, {"FullAccess"})
    assert agent.get(url, timeout=5).status_code == 200


def test_it_needs_the_shared_scope_for_someone_elses_mailbox(graph: GraphServer) -> None:
    graph.grant(AGENT, SHARED, {"FullAccess", "SendAs"})
    agent = session_for(graph, graph.issue_token(AGENT, {"Mail.ReadWrite", "Mail.Send"}))
    assert agent.get(inbox_delta(graph), timeout=5).status_code == 403
    assert agent.get(inbox_delta(graph, AGENT), timeout=5).status_code == 200


def test_it_refuses_sending_from_a_shared_mailbox_without_send_as(graph: GraphServer) -> None:
    graph.grant(AGENT, SHARED, {"FullAccess"})
    agent = session_for(
        graph, graph.issue_token(AGENT, {"Mail.ReadWrite.Shared", "Mail.Send.Shared"})
    )
    raw = f"To: {CUSTOMER}\r\nSubject: Hi\r\n\r\nx\r\n".encode()
    answer = send_mime(agent, f"{graph.graph_url}/users/{SHARED}/sendMail", raw)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"


def test_it_scopes_an_application_to_the_mailboxes_it_was_granted(
    graph: GraphServer, app: requests.Session
) -> None:
    assert app.get(inbox_delta(graph, SHARED), timeout=5).status_code == 200
    assert app.get(inbox_delta(graph, AGENT), timeout=5).status_code == 403
    reader = session_for(graph, graph.issue_token(APP, {"Mail.Read"}, application=True))
    raw = f"To: {CUSTOMER}\r\nSubject: Hi\r\n\r\nx\r\n".encode()
    assert send_mime(reader, f"{graph.graph_url}/users/{SHARED}/sendMail", raw).status_code == 403


# -- throttling -------------------------------------------------------------------------------


def test_it_throttles_the_next_requests_with_retry_after(
    graph: GraphServer, app: requests.Session
) -> None:
    url = f"{graph.graph_url}/users/{SHARED}/mailFolders"
    graph.throttle(2, retry_after=7)
    for _ in range(2):
        answer = app.get(url, timeout=5)
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "7"
        assert answer.json()["error"]["code"] == "TooManyRequests"
    assert app.get(url, timeout=5).status_code == 200


def test_it_fails_the_next_request_as_told(graph: GraphServer, app: requests.Session) -> None:
    graph.fail_next(503, "serviceNotAvailable", retry_after=3)
    answer = app.get(f"{graph.graph_url}/users/{SHARED}/mailFolders", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "serviceNotAvailable"
    assert answer.headers["Retry-After"] == "3"


def test_it_refuses_a_fifth_concurrent_request_on_a_mailbox(
    graph: GraphServer, app: requests.Session
) -> None:
    url = f"{graph.graph_url}/users/{SHARED}/mailFolders"
    token = app.headers["Authorization"]
    statuses: list[int] = []

    def call() -> None:
        statuses.append(requests.get(url, headers={"Authorization": token}, timeout=10).status_code)

    with graph.hold_requests():
        workers = [threading.Thread(target=call) for _ in range(4)]
        for worker in workers:
            worker.start()
        graph.wait_for_in_flight(SHARED, 4)
        fifth = app.get(url, timeout=5)
    for worker in workers:
        worker.join()

    assert fifth.status_code == 429
    assert fifth.json()["error"]["code"] == "ApplicationThrottled"
    assert statuses == [200, 200, 200, 200]


# -- change notifications ---------------------------------------------------------------------


class Receiver:
    """A webhook endpoint: answers the validation handshake, records notification batches."""

    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self.validations: list[str] = []
        self.batches: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tokens = parse_qs(urlsplit(self.path).query).get("validationToken")
                if tokens:
                    receiver.validations.append(tokens[0])
                    answer = tokens[0].encode() if receiver.echo else b"no"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                else:
                    with receiver._changed:
                        receiver.batches.append(json.loads(body))
                        receiver._changed.notify_all()
                    answer = b""
                    self.send_response(202)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str = "/notify") -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}{path}"

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        """The notification entries once `count` have arrived."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.entries()) >= count, timeout=10)
        assert arrived, f"only {len(self.entries())} of {count} notifications arrived"
        return self.entries()

    def entries(self) -> list[dict[str, Any]]:
        return [entry for batch in self.batches for entry in batch["value"]]

    def close(self) -> None:
        self._http.shutdown()
        self._thread.join()
        self._http.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def in_minutes(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def subscribe(
    app: requests.Session, graph: GraphServer, receiver: Receiver, **extra: Any
) -> requests.Response:
    body = {
        "changeType": "created,updated",
        "notificationUrl": receiver.url(),
        "resource": f"users/{SHARED}/mailFolders('inbox')/messages",
        "expirationDateTime": in_minutes(60),
        "clientState": "s3cret",
        **extra,
    }
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    return app.post(f"{graph.graph_url}/subscriptions", json=body, headers=immutable, timeout=15)


def test_it_validates_the_endpoint_then_notifies_it_of_new_mail(
    graph: GraphServer, app: requests.Session, receiver: Receiver
) -> None:
    created = subscribe(app, graph, receiver)
    assert created.status_code == 201, created.text
    assert len(receiver.validations) == 1
    assert receiver.validations[0].startswith("Validation: ")  # URL-decoded by the receiver

    message_id = graph.deliver(SHARED, mime("Push me"))
    [entry] = receiver.wait_for(1)
    assert entry["subscriptionId"] == created.json()["id"]
    assert entry["clientState"] == "s3cret"
    assert entry["changeType"] == "created"
    assert entry["resourceData"]["id"] == message_id
    assert entry["resource"].endswith(f"/Messages/{message_id}")
    graph.deliver(SHARED, mime("Elsewhere"), folder="junkemail")
    graph.flush_notifications()
    assert len(receiver.entries()) == 1


def test_it_refuses_a_subscription_whose_endpoint_does_not_echo_the_token(
    graph: GraphServer, app: requests.Session
) -> None:
    silent = Receiver(echo=False)
    try:
        answer = subscribe(app, graph, silent)
    finally:
        silent.close()
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ValidationError"
    assert graph.subscription_ids() == []


def test_it_caps_a_message_subscription_at_4230_minutes(
    graph: GraphServer, app: requests.Session, receiver: Receiver
) -> None:
    assert subscribe(app, graph, receiver, expirationDateTime=in_minutes(4300)).status_code == 400
    created = subscribe(app, graph, receiver, expirationDateTime=in_minutes(4200)).json()
    url = f"{graph.graph_url}/subscriptions/{created['id']}"
    assert (
        app.patch(url, json={"expirationDateTime": in_minutes(5000)}, timeout=5).status_code == 400
    )
    renewed = app.patch(url, json={"expirationDateTime": in_minutes(120)}, timeout=5)
    assert renewed.status_code == 200
    assert app.delete(url, timeout=5).status_code == 204
    assert app.get(url, timeout=5).status_code == 404


def test_it_sends_lifecycle_events_to_the_lifecycle_url(
    graph: GraphServer, app: requests.Session, receiver: Receiver
) -> None:
    created = subscribe(app, graph, receiver, lifecycleNotificationUrl=receiver.url("/life"))
    subscription_id = created.json()["id"]
    assert len(receiver.validations) == 2  # both URLs are validated

    graph.send_lifecycle_event(subscription_id, "reauthorizationRequired")
    graph.send_lifecycle_event(subscription_id, "subscriptionRemoved")
    events = receiver.wait_for(2)
    assert [e["lifecycleEvent"] for e in events] == [
        "reauthorizationRequired",
        "subscriptionRemoved",
    ]
    assert all(e["clientState"] == "s3cret" for e in events)
    assert graph.subscription_ids() == []


def test_it_can_deliver_a_notification_twice_and_out_of_order(
    graph: GraphServer, app: requests.Session, receiver: Receiver
) -> None:
    subscribe(app, graph, receiver)
    graph.duplicate_notifications(1)
    first = graph.deliver(SHARED, mime("Twice"))
    assert [e["resourceData"]["id"] for e in receiver.wait_for(2)] == [first, first]

    graph.hold_notifications()
    second = graph.deliver(SHARED, mime("Second"))
    third = graph.deliver(SHARED, mime("Third"))
    graph.release_notifications(reverse=True)
    late = [e["resourceData"]["id"] for e in receiver.wait_for(4)[2:]]
    assert late == [third, second]


def test_it_notifies_updates_and_uses_immutable_ids_when_subscribed_with_them(
    graph: GraphServer, app: requests.Session, receiver: Receiver
) -> None:
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    body = {
        "changeType": "updated",
        "notificationUrl": receiver.url(),
        "resource": f"/users/{SHARED}/messages",
        "expirationDateTime": in_minutes(60),
        "clientState": "s3cret",
    }
    assert app.post(f"{graph.graph_url}/subscriptions", json=body, headers=immutable, timeout=15).ok
    message_id = graph.deliver(SHARED, mime("Read me"))
    app.patch(
        f"{graph.graph_url}/users/{SHARED}/messages/{message_id}", json={"isRead": True}, timeout=5
    )
    [entry] = receiver.wait_for(1)
    assert entry["changeType"] == "updated"
    assert entry["resourceData"]["id"] == message_id


# -- trusting an authorization server's tokens, over TLS ------------------------------------


def test_it_trusts_the_tokens_an_authorization_server_vouches_for_over_https() -> None:
    """Delegated scopes arrive as the client asked them, with Graph's resource in front."""
    answers: dict[str, dict[str, object]] = {
        "delegated": {
            "active": True,
            "username": AGENT.upper(),
            "scope": "https://graph.microsoft.com/Mail.ReadWrite offline_access",
        },
        "ended": {"active": False},
    }
    tokens = TokenServer().start()
    try:
        validator = introspected_by(lambda token: answers.get(token, {"active": False}))
        with GraphServer(validator, tls=tokens.server_tls()) as graph:
            graph.add_mailbox(AGENT)
            graph.add_mailbox(SHARED)
            assert graph.graph_url.startswith("https://127.0.0.1:")

            def status(token: str, mailbox: str) -> int:
                return requests.get(
                    f"{graph.graph_url}/users/{mailbox}/mailFolders/inbox",
                    headers={"Authorization": f"Bearer {token}"},
                    verify=tokens.cafile,
                    timeout=5,
                ).status_code

            assert status("delegated", AGENT) == 200
            assert status("delegated", SHARED) == 403  # no Mail.ReadWrite.Shared, no grant
            assert status("ended", AGENT) == 401
    finally:
        tokens.stop()
