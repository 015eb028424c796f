"""The Graph connector and sender against the local fake of Microsoft Graph."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from deskmail.connectors import graph_api, testconn
from deskmail.connectors.base import Fetch
from deskmail.connectors.credentials import BearerToken, Password
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.graph import GraphConnector, GraphCursor, GraphSender
from deskmail.connectors.tests.mshelpers import (
    AGENT,
    APP,
    APP_PERMISSIONS,
    CUSTOMER,
    SHARED,
    SUPPORT,
    days_ago,
    graph_inbound,
    graph_outbound,
    mail,
)
from deskmail.testing.graphserver import GraphServer
from deskmail.testing.waiting import eventually

DELEGATED = ("Mail.ReadWrite", "Mail.Send")


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    with GraphServer() as server:
        server.add_mailbox(SUPPORT)
        server.add_mailbox(CUSTOMER)
        yield server


@pytest.fixture
def token(graph: GraphServer) -> BearerToken:
    return BearerToken(graph.issue_token(SUPPORT, DELEGATED))


class Waits:
    """A `sleep` that records what it was asked to wait instead of waiting."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def connector(graph: GraphServer, credentials: Any, **overrides: Any) -> GraphConnector:
    options = {k: overrides.pop(k) for k in ("sleep", "page_size", "batch_bytes") if k in overrides}
    return GraphConnector(graph_inbound(graph, **overrides), credentials, **options)


def sync(
    session: GraphConnector, cursor: dict[str, Any]
) -> tuple[Fetch, list[bytes], dict[str, Any]]:
    """One pass as the worker makes it: every batch stored, then acknowledged."""
    cursor = session.acknowledge(cursor) if cursor else cursor
    fetch = session.fetch(cursor)
    stored: list[bytes] = []
    for batch in fetch.batches:
        stored.extend(m.raw for m in batch.messages)
        cursor = session.acknowledge(batch.cursor)
    return fetch, stored, cursor


# -- delta ----------------------------------------------------------------------------------


def test_it_follows_the_pages_to_the_delta_link_and_then_reads_only_new_mail(
    graph: GraphServer, token: BearerToken
) -> None:
    first = [mail(n) for n in range(25)]
    for raw in first:
        graph.deliver(SUPPORT, raw)
    with connector(graph, token, page_size=10) as session:
        fetch = session.fetch({})
        batches = list(fetch.batches)
        assert [len(b.messages) for b in batches] == [10, 10, 5]
        assert [m.raw for b in batches for m in b.messages] == first
        assert GraphCursor.from_json(batches[0].cursor).link is not None
        last = GraphCursor.from_json(batches[-1].cursor)
        assert last.delta_link is not None and last.link is None
        cursor = session.acknowledge(batches[-1].cursor)

        later = [mail(n) for n in range(25, 27)]
        for raw in later:
            graph.deliver(SUPPORT, raw)
        _, stored, cursor = sync(session, cursor)
        assert stored == later
        _, stored, _ = sync(session, cursor)
        assert stored == []


def test_it_resumes_a_round_at_the_page_it_stopped_at(
    graph: GraphServer, token: BearerToken
) -> None:
    raws = [mail(n) for n in range(12)]
    for raw in raws:
        graph.deliver(SUPPORT, raw)
    with connector(graph, token, page_size=5, after_fetch="leave") as session:
        first_batch = next(session.fetch({}).batches)
    # The process died here: the first page is stored with its cursor, nothing else.
    with connector(graph, token, page_size=5, after_fetch="leave") as session:
        _, rest, _ = sync(session, first_batch.cursor)
    assert [m.raw for m in first_batch.messages] + rest == raws


def test_it_splits_a_page_into_batches_by_size_and_resumes_inside_it(
    graph: GraphServer, token: BearerToken
) -> None:
    raws = [mail(n, body=b"x" * 2000 + b"\r\n") for n in range(9)]
    for raw in raws:
        graph.deliver(SUPPORT, raw)
    options = {"page_size": 100, "batch_bytes": 10_000, "after_fetch": "leave"}
    with connector(graph, token, **options) as session:
        batches = list(session.fetch({}).batches)
    assert len(batches) > 1 and [m.raw for b in batches for m in b.messages] == raws
    middle = GraphCursor.from_json(batches[0].cursor)
    assert middle.link is not None and len(middle.done) == len(batches[0].messages)
    with connector(graph, token, **options) as session:
        _, rest, _ = sync(session, batches[0].cursor)
    assert [m.raw for m in batches[0].messages] + rest == raws


def test_it_asks_for_immutable_ids_on_every_request(graph: GraphServer, token: BearerToken) -> None:
    seen: list[tuple[str, str, bool]] = []
    handle = graph.handle

    def recording(request: Any) -> Any:
        seen.append((request.method, request.path, request.immutable_ids))
        return handle(request)

    graph.handle = recording  # type: ignore[method-assign]
    delivered = [graph.deliver(SUPPORT, mail(n)) for n in range(3)]
    with connector(graph, token, after_fetch="move:Done") as session:
        positions = []
        for batch in session.fetch({}).batches:
            positions += [m.position.uid for m in batch.messages]
            session.acknowledge(batch.cursor)
    assert positions == delivered  # the immutable ids the mail was delivered with
    assert graph.messages(SUPPORT) == []
    assert {method for method, _, _ in seen} >= {"GET", "POST"}
    assert [(method, path) for method, path, immutable in seen if not immutable] == []


def test_it_reads_each_message_as_the_very_bytes_delivered(
    graph: GraphServer, token: BearerToken
) -> None:
    odd = (
        b"Received: from mx.customer.test\r\n\tby mx.helpdesk.test; Mon, 23 Nov 2026 09:00:00\r\n"
        b"From: =?iso-8859-1?q?J=FCrgen?= <j@customer.test>\r\nTo: support@helpdesk.test\r\n"
        b"Subject: Gr\xfc\xdfe\r\nMessage-ID: <odd@customer.test>\r\n"
        b"Content-Type: text/plain; charset=latin-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Sch\xf6ne Gr\xfc\xdfe,\r\n\r\n-- \r\nJ.\r\n"
    )
    graph.deliver(SUPPORT, odd)
    with connector(graph, token) as session:
        [message] = list(session.fetch({}).messages())
    assert message.raw == odd


def test_it_gives_the_received_time_as_the_arrival(graph: GraphServer, token: BearerToken) -> None:
    received = dt.datetime(2026, 11, 23, 8, 59, 30, tzinfo=dt.UTC)
    graph.deliver(SUPPORT, mail(1), received=received)
    with connector(graph, token) as session:
        [message] = list(session.fetch({}).messages())
    assert message.arrived_at == received


def test_it_offers_unread_mail_since_sync_since_on_the_first_sync(
    graph: GraphServer, token: BearerToken
) -> None:
    graph.deliver(SUPPORT, mail(1), received=days_ago(40))
    recent = graph.deliver(SUPPORT, mail(2), received=days_ago(2))
    read = graph.deliver(SUPPORT, mail(3), received=days_ago(1))
    with connector(graph, token, after_fetch="leave") as session:
        session.client().call("PATCH", f"messages/{read}", "test", json={"isRead": True})
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).date()
        session.config = session.config.model_copy(update={"sync_since": since})
        offered = [m.position.uid for m in session.fetch({}).messages()]
    assert offered == [recent]


def test_it_applies_the_header_filter_exactly(graph: GraphServer, token: BearerToken) -> None:
    graph.deliver(SUPPORT, mail(1, SUPPORT, "X-Antivirus: clean"))
    graph.deliver(SUPPORT, mail(2, SUPPORT, "X-Antivirus: infected"))
    with connector(graph, token, header_filter="x-antivirus=clean") as session:
        fetch = session.fetch({})
        batches = list(fetch.batches)
    assert [m.raw for b in batches for m in b.messages] == [mail(1, SUPPORT, "X-Antivirus: clean")]
    assert len(fetch.skipped) == 1
    assert GraphCursor.from_json(batches[-1].cursor).unacked == (
        batches[-1].messages[0].position.uid,
    )


# -- resync -----------------------------------------------------------------------------------


def test_it_starts_over_when_the_delta_token_expired_and_says_it_resynced(
    graph: GraphServer, token: BearerToken
) -> None:
    before = [graph.deliver(SUPPORT, mail(n)) for n in range(3)]
    with connector(graph, token, after_fetch="leave") as session:
        _, _, cursor = sync(session, {})
        graph.expire_delta_tokens()
        new = graph.deliver(SUPPORT, mail(3))
        fetch = session.fetch(cursor)
        offered = [m.position.uid for m in fetch.messages()]
    assert fetch.resync
    # Everything is offered again, by the same immutable ids: the store recognises them.
    assert offered == [*before, new]


def test_it_starts_over_when_a_skip_token_expires_in_the_middle_of_a_round(
    graph: GraphServer, token: BearerToken
) -> None:
    ids = [graph.deliver(SUPPORT, mail(n)) for n in range(6)]
    with connector(graph, token, page_size=2, after_fetch="leave") as session:
        fetch = session.fetch({})
        first = next(fetch.batches)
        graph.expire_delta_tokens()
        rest = [m.position.uid for b in fetch.batches for m in b.messages]
    assert fetch.resync
    assert [m.position.uid for m in first.messages] + rest == ids[:2] + ids


# -- after fetch ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["mark_read", "leave", "delete", "move:Processed/Graph"])
def test_it_applies_the_after_fetch_action_only_when_acknowledged(
    graph: GraphServer, token: BearerToken, action: str
) -> None:
    ids = [graph.deliver(SUPPORT, mail(n)) for n in range(3)]
    with connector(graph, token, after_fetch=action) as session:
        [batch] = list(session.fetch({}).batches)
        assert all(not m.is_read for m in graph.messages(SUPPORT))  # stored, not yet acked
        cursor = session.acknowledge(batch.cursor)
        assert GraphCursor.from_json(cursor).unacked == ()
        assert session.acknowledge(batch.cursor) == cursor  # twice is harmless
    inbox = graph.messages(SUPPORT)
    if action == "mark_read":
        assert [m.is_read for m in inbox] == [True] * 3
    elif action == "leave":
        assert [m.is_read for m in inbox] == [False] * 3
    elif action == "delete":
        assert inbox == []
        deleted = graph.messages(SUPPORT, "recoverableitemsdeletions")
        assert sorted(m.id for m in deleted) == sorted(ids)  # acknowledged in parallel
    else:
        assert inbox == []
        processed = next(
            f for f in session.client().call("GET", "mailFolders", "t").json()["value"]
            if f["displayName"] == "Processed"
        )  # fmt: skip
        child = (
            session.client()
            .call("GET", f"mailFolders/{processed['id']}/childFolders", "t")
            .json()["value"]
        )
        assert [f["displayName"] for f in child] == ["Graph"]
        moved = graph.messages(SUPPORT, child[0]["id"])
        assert sorted(m.id for m in moved) == sorted(ids)  # acknowledged in parallel


def test_it_never_offers_mail_it_marked_read_again(graph: GraphServer, token: BearerToken) -> None:
    for n in range(4):
        graph.deliver(SUPPORT, mail(n))
    with connector(graph, token) as session:
        _, stored, cursor = sync(session, {})
        assert len(stored) == 4
        _, again, _ = sync(session, cursor)
    assert again == []


# -- limits and errors ------------------------------------------------------------------------


def test_it_waits_as_long_as_retry_after_says_when_throttled(
    graph: GraphServer, token: BearerToken
) -> None:
    graph.deliver(SUPPORT, mail(1))
    waits = Waits()
    with connector(graph, token, sleep=waits) as session:
        graph.throttle(3, retry_after=7)
        [message] = list(session.fetch({}).messages())
    assert message.raw == mail(1)
    assert waits.asked == [7, 7, 7]


def test_it_backs_off_exponentially_when_no_retry_after_is_given(
    graph: GraphServer, token: BearerToken
) -> None:
    waits = Waits()
    with connector(graph, token, sleep=waits) as session:
        for _ in range(3):
            graph.fail_next(503, "ServiceUnavailable", "Service unavailable.")
        assert list(session.fetch({}).messages()) == []
    assert waits.asked == [1, 2, 4]


def test_it_gives_up_on_a_429_storm_with_a_temporary_error(
    graph: GraphServer, token: BearerToken
) -> None:
    waits = Waits()
    with connector(graph, token, sleep=waits) as session:
        graph.throttle(100, retry_after=120)
        with pytest.raises(ConnectorError) as raised:
            session.fetch({})
    assert not raised.value.permanent
    assert raised.value.server_reply == "TooManyRequests: Please retry again later."
    assert raised.value.retry_after == 120
    assert sum(waits.asked) <= graph_api.PATIENCE_S


def test_it_sends_at_most_four_requests_at_once_per_mailbox(
    graph: GraphServer, token: BearerToken
) -> None:
    apis = [graph_api.GraphApi(graph.graph_url, SUPPORT, token) for _ in range(6)]
    errors: list[BaseException] = []

    def read(api: graph_api.GraphApi) -> None:
        try:
            api.call("GET", "mailFolders/inbox", "reading")
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    slots = graph_api._slots_for(graph.graph_url, SUPPORT)  # noqa: SLF001
    with graph.hold_requests():
        threads = [threading.Thread(target=read, args=(api,)) for api in apis]
        for thread in threads:
            thread.start()
        graph.wait_for_in_flight(SUPPORT, 4)
        # The other two wait for a slot here, never reaching Graph to be refused.
        eventually(lambda: len(slots._cond._waiters) == 2, 10, "two requests waiting")  # noqa: SLF001
    for thread in threads:
        thread.join(10)
    assert errors == []


def test_it_reports_a_refused_token_in_graphs_words(graph: GraphServer) -> None:
    token = graph.issue_token(SUPPORT, DELEGATED)
    graph.revoke_token(token)
    with pytest.raises(ConnectorError) as raised:
        connector(graph, BearerToken(token)).open()
    assert raised.value.permanent and raised.value.auth
    assert (
        raised.value.server_reply == "InvalidAuthenticationToken: Access token validation failure."
    )
    assert "Reauthorize the mailbox" in raised.value.message


def test_it_reports_a_removed_permission_in_graphs_words(graph: GraphServer) -> None:
    graph.add_mailbox(SHARED)
    graph.grant(APP, SHARED, APP_PERMISSIONS)
    app = BearerToken(graph.issue_token(APP, APP_PERMISSIONS, application=True))
    with connector(graph, app, user=SHARED) as session:
        assert list(session.fetch({}).messages()) == []
    graph._grants.clear()  # noqa: SLF001 - the admin removed the app's access to the mailbox
    with pytest.raises(ConnectorError) as raised:
        connector(graph, app, user=SHARED).open()
    assert raised.value.permanent and raised.value.auth
    assert raised.value.server_reply == (
        "ErrorAccessDenied: Access is denied. Check credentials and try again."
    )
    assert SHARED in raised.value.message


def test_it_resumes_without_loss_or_duplicates_once_access_is_given_back(
    graph: GraphServer,
) -> None:
    graph.add_mailbox(SHARED)
    graph.grant(APP, SHARED, APP_PERMISSIONS)
    app = BearerToken(graph.issue_token(APP, APP_PERMISSIONS, application=True))
    raws = [mail(n, SHARED) for n in range(6)]
    for raw in raws:
        graph.deliver(SHARED, raw)
    with connector(graph, app, user=SHARED, page_size=2) as session:
        batches = session.fetch({}).batches
        first = next(batches)
        cursor = session.acknowledge(first.cursor)
        graph._grants.clear()  # noqa: SLF001 - the admin took the app's access away
        with pytest.raises(ConnectorError) as raised:
            next(batches)
    assert raised.value.auth  # the mailbox is marked failed, waiting for a new authorization
    graph.grant(APP, SHARED, APP_PERMISSIONS)  # reauthorized
    with connector(graph, app, user=SHARED, page_size=2) as session:
        _, rest, _ = sync(session, cursor)
    assert [m.raw for m in first.messages] + rest == raws


def test_it_gets_a_new_app_token_when_graph_refuses_the_one_it_has(graph: GraphServer) -> None:
    graph.add_mailbox(SHARED)
    graph.grant(APP, SHARED, APP_PERMISSIONS)

    class AppTokens:
        mechanism = "xoauth2"

        def __init__(self) -> None:
            self.token = "expired"
            self.asked_anew = 0

        def secret(self) -> str:
            return self.token

        def invalidate(self) -> None:
            self.asked_anew += 1
            self.token = graph.issue_token(APP, APP_PERMISSIONS, application=True)

    tokens = AppTokens()
    with connector(graph, tokens, user=SHARED) as session:
        assert list(session.fetch({}).messages()) == []
    assert tokens.asked_anew == 1


def test_it_reports_a_disabled_account_as_graph_words_it(
    graph: GraphServer, token: BearerToken
) -> None:
    graph.fail_next(403, "ErrorAccountDisabled", "The user account which was used is disabled.")
    with pytest.raises(ConnectorError) as raised:
        connector(graph, token).open()
    assert raised.value.permanent and raised.value.auth
    assert raised.value.server_reply.startswith("ErrorAccountDisabled: ")


def test_it_refuses_to_send_a_token_over_plain_http_unless_told_to(graph: GraphServer) -> None:
    with pytest.raises(ConnectorError) as raised:
        GraphConnector(
            graph_inbound(graph).model_copy(update={"security": "ssl"}), BearerToken("t")
        ).open()
    assert raised.value.permanent and "not encrypted" in raised.value.message


def test_it_refuses_a_password(graph: GraphServer) -> None:
    with pytest.raises(ConnectorError) as raised:
        connector(graph, Password("secret")).open()
    assert "OAuth2" in raised.value.message


def test_it_names_the_folders_there_are_when_the_configured_one_is_missing(
    graph: GraphServer, token: BearerToken
) -> None:
    with pytest.raises(ConnectorError) as raised:
        connector(graph, token, folder="Support/Tickets").open()
    assert "'Support/Tickets' does not exist" in raised.value.message
    assert "Inbox" in raised.value.message


# -- the connection test ----------------------------------------------------------------------


def test_it_walks_the_connection_test_steps(graph: GraphServer, token: BearerToken) -> None:
    graph.deliver(SUPPORT, mail(1))
    steps = testconn.test_inbound(graph_inbound(graph), token)
    assert [(s.name.split(" ")[0], s.ok) for s in steps] == [
        ("reach", True),
        ("TLS", True),
        ("sign", True),
        ("open", True),
        ("count", True),
    ]
    assert steps[4].detail == "1 messages, 1 unread"


def test_its_connection_test_stops_at_the_refusal_with_graphs_words(graph: GraphServer) -> None:
    steps = testconn.test_inbound(graph_inbound(graph), BearerToken("not-a-token"))
    assert [(s.name.split(" ")[0], s.ok) for s in steps] == [
        ("reach", True),
        ("TLS", True),
        ("sign", False),
    ]
    assert steps[2].server_reply == "InvalidAuthenticationToken: Access token validation failure."


# -- sending ----------------------------------------------------------------------------------


def reply(sender: str, to: str = CUSTOMER) -> bytes:
    return (
        f"From: Team <{sender}>\r\nTo: {to}\r\nSubject: Re: [SUP#7] question 1\r\n"
        "Message-ID: <t7.r1.sig@helpdesk.test>\r\nIn-Reply-To: <q1@customer.test>\r\n"
        "References: <q1@customer.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nFixed.\r\n"
    ).encode()


def test_it_sends_our_mime_from_a_shared_mailbox_into_its_sent_items(graph: GraphServer) -> None:
    graph.add_mailbox(SHARED)
    graph.add_mailbox(AGENT)
    graph.grant(AGENT, SHARED, {"FullAccess", "SendAs"})
    token = BearerToken(graph.issue_token(AGENT, ("Mail.ReadWrite.Shared", "Mail.Send.Shared")))
    raw = reply(SHARED)
    with GraphSender(graph_outbound(graph, user=SHARED), token) as sender:
        assert sender.send(SHARED, [CUSTOMER], raw) == {}
    [copy] = graph.messages(SHARED, "sentitems")
    assert copy.raw == raw  # Message-ID, In-Reply-To, References and the tag as we wrote them
    assert graph.messages(AGENT, "sentitems") == []
    [delivered] = graph.messages(CUSTOMER)
    assert delivered.raw == raw


def test_it_adds_envelope_only_recipients_as_bcc(graph: GraphServer, token: BearerToken) -> None:
    graph.add_mailbox("boss@customer.test")
    with GraphSender(graph_outbound(graph), token) as sender:
        sender.send(SUPPORT, [CUSTOMER, "boss@customer.test"], reply(SUPPORT))
    assert graph.outbox[-1].recipients == (CUSTOMER, "boss@customer.test")
    assert b"Bcc" not in graph.messages("boss@customer.test")[0].raw


def test_it_reports_a_refused_send_as_in_graphs_words(graph: GraphServer) -> None:
    graph.add_mailbox(SHARED)
    graph.add_mailbox(AGENT)
    graph.grant(AGENT, SHARED, {"FullAccess"})
    token = BearerToken(graph.issue_token(AGENT, ("Mail.ReadWrite.Shared", "Mail.Send.Shared")))
    with GraphSender(graph_outbound(graph, user=SHARED), token) as sender:
        with pytest.raises(ConnectorError) as raised:
            sender.send(SHARED, [CUSTOMER], reply(SHARED))
    assert raised.value.permanent and raised.value.auth
    assert raised.value.server_reply.startswith("ErrorAccessDenied: ")


def test_it_turns_graphs_sending_limit_into_a_temporary_error(
    graph: GraphServer, token: BearerToken
) -> None:
    graph.send_limit_per_minute = 2
    with GraphSender(graph_outbound(graph), token, sleep=Waits()) as sender:
        sender.send(SUPPORT, [CUSTOMER], reply(SUPPORT))
        sender.send(SUPPORT, [CUSTOMER], reply(SUPPORT))
        with pytest.raises(ConnectorError) as raised:
            sender.send(SUPPORT, [CUSTOMER], reply(SUPPORT))
    assert not raised.value.permanent
    assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert len(graph.outbox) == 2


def test_it_keeps_to_30_messages_a_minute_itself(graph: GraphServer, token: BearerToken) -> None:
    graph.send_limit_per_minute = None
    with GraphSender(graph_outbound(graph), token) as sender:
        for _ in range(30):
            sender.send(SUPPORT, [CUSTOMER], reply(SUPPORT))
        with pytest.raises(ConnectorError) as raised:
            sender.send(SUPPORT, [CUSTOMER], reply(SUPPORT))
    assert not raised.value.permanent and raised.value.retry_after
    assert "30 messages in the last minute" in raised.value.message
    assert len(graph.outbox) == 30


def test_its_outbound_connection_test_signs_in_without_sending(
    graph: GraphServer, token: BearerToken
) -> None:
    steps = testconn.test_outbound(graph_outbound(graph), token)
    assert [s.ok for s in steps] == [True, True, True]
    assert graph.outbox == []
