"""The EWS connector and sender, through exchangelib, against the local fake EWS endpoint."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from deskmail.connectors import testconn
from deskmail.connectors.base import Fetch
from deskmail.connectors.credentials import BearerToken, Password
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.ews import EwsConnector, EwsCursor, EwsSender
from deskmail.connectors.tests.mshelpers import (
    CUSTOMER,
    SHARED,
    SUPPORT,
    days_ago,
    ews_inbound,
    ews_outbound,
    mail,
)
from deskmail.testing.ewsserver import EwsServer

PASSWORD = Password("Secret-1")


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    with EwsServer(mailbox=SUPPORT, username="agent", password="Secret-1") as server:
        server.add_mailbox(CUSTOMER)
        yield server


def connector(ews: EwsServer, credentials: Any = PASSWORD, **overrides: Any) -> EwsConnector:
    options = {k: overrides.pop(k) for k in ("page_size", "batch_bytes") if k in overrides}
    return EwsConnector(ews_inbound(ews, **overrides), credentials, **options)


def sync(
    session: EwsConnector, cursor: dict[str, Any]
) -> tuple[Fetch, list[bytes], dict[str, Any]]:
    cursor = session.acknowledge(cursor) if cursor else cursor
    fetch = session.fetch(cursor)
    stored: list[bytes] = []
    for batch in fetch.batches:
        stored.extend(m.raw for m in batch.messages)
        cursor = session.acknowledge(batch.cursor)
    return fetch, stored, cursor


def test_it_syncs_the_folder_page_by_page_and_then_only_new_mail(ews: EwsServer) -> None:
    first = [mail(n) for n in range(7)]
    for raw in first:
        ews.deliver(raw)
    with connector(ews, page_size=3) as session:
        batches = list(session.fetch({}).batches)
        assert [len(b.messages) for b in batches] == [3, 3, 1]
        assert [m.raw for b in batches for m in b.messages] == first
        assert EwsCursor.from_json(batches[0].cursor).full
        cursor = session.acknowledge(batches[-1].cursor)
        assert not EwsCursor.from_json(cursor).full
        later = [mail(7), mail(8)]
        for raw in later:
            ews.deliver(raw)
        _, stored, cursor = sync(session, cursor)
        assert stored == later
        _, stored, _ = sync(session, cursor)
        assert stored == []


def test_it_reads_each_message_as_the_very_bytes_delivered(ews: EwsServer) -> None:
    raw = mail(1, SUPPORT, "Content-Type: text/plain; charset=latin-1", body=b"Gr\xfc\xdfe\r\n")
    ews.deliver(raw)
    received = dt.datetime(2026, 11, 23, 8, 59, 30, tzinfo=dt.UTC)
    ews.deliver(mail(2), received=received)
    with connector(ews) as session:
        messages = list(session.fetch({}).messages())
    assert [m.raw for m in messages] == [raw, mail(2)]
    assert messages[1].arrived_at == received
    assert messages[0].position.kind == "ews" and messages[0].position.uid


def test_it_resumes_where_the_last_stored_page_ended(ews: EwsServer) -> None:
    raws = [mail(n) for n in range(5)]
    for raw in raws:
        ews.deliver(raw)
    with connector(ews, page_size=2, after_fetch="leave") as session:
        first = next(session.fetch({}).batches)
    with connector(ews, page_size=2, after_fetch="leave") as session:
        _, rest, _ = sync(session, first.cursor)
    assert [m.raw for m in first.messages] + rest == raws


def test_it_splits_a_page_by_size_and_resumes_inside_it(ews: EwsServer) -> None:
    raws = [mail(n, body=b"y" * 3000 + b"\r\n") for n in range(60)]
    for raw in raws:
        ews.deliver(raw)
    options = {"batch_bytes": 50_000, "after_fetch": "leave"}
    with connector(ews, **options) as session:
        batches = list(session.fetch({}).batches)
    assert len(batches) > 1 and [m.raw for b in batches for m in b.messages] == raws
    assert EwsCursor.from_json(batches[0].cursor).done
    with connector(ews, **options) as session:
        _, rest, _ = sync(session, batches[0].cursor)
    assert [m.raw for m in batches[0].messages] + rest == raws


def test_it_starts_over_when_the_sync_state_is_forgotten(ews: EwsServer) -> None:
    before = [ews.deliver(mail(n)) for n in range(3)]
    with connector(ews, after_fetch="leave") as session:
        _, _, cursor = sync(session, {})
        ews.expire_sync_states()
        new = ews.deliver(mail(3))
        fetch = session.fetch(cursor)
        offered = [m.position.uid for m in fetch.messages()]
    assert fetch.resync
    assert offered == [*before, new]


def test_it_offers_unread_mail_since_sync_since_on_the_first_sync(ews: EwsServer) -> None:
    ews.deliver(mail(1), received=days_ago(40))
    recent = ews.deliver(mail(2), received=days_ago(2))
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).date()
    with connector(ews, sync_since=since.isoformat()) as session:
        offered = [m.position.uid for m in session.fetch({}).messages()]
    assert offered == [recent]


@pytest.mark.parametrize("action", ["mark_read", "leave", "delete", "move:Done"])
def test_it_applies_the_after_fetch_action_once_stored(ews: EwsServer, action: str) -> None:
    done = ews.add_folder("Done")
    for n in range(3):
        ews.deliver(mail(n))
    with connector(ews, after_fetch=action) as session:
        [batch] = list(session.fetch({}).batches)
        assert [m.is_read for m in ews.messages()] == [False] * 3
        cursor = session.acknowledge(batch.cursor)
        assert EwsCursor.from_json(cursor).unacked == ()
        session.acknowledge(batch.cursor)  # again: the items are gone or read already
        _, again, _ = sync(session, cursor)
    assert again == []
    inbox = ews.messages()
    if action == "mark_read":
        assert [m.is_read for m in inbox] == [True] * 3
    elif action == "leave":
        assert [m.is_read for m in inbox] == [False] * 3
    elif action == "delete":
        assert inbox == [] and len(ews.messages("recoverableitemsdeletions")) == 3
    else:
        assert inbox == [] and sorted(m.raw for m in ews.messages(done)) == sorted(
            mail(n) for n in range(3)
        )


def test_it_refuses_to_move_to_a_folder_that_does_not_exist(ews: EwsServer) -> None:
    ews.deliver(mail(1))
    with connector(ews, after_fetch="move:Nowhere") as session:
        [batch] = list(session.fetch({}).batches)
        with pytest.raises(ConnectorError) as raised:
            session.acknowledge(batch.cursor)
    assert raised.value.permanent and "'Nowhere' does not exist" in raised.value.message


def test_it_reports_a_refused_login_in_the_servers_words(ews: EwsServer) -> None:
    with pytest.raises(ConnectorError) as raised:
        connector(ews, Password("wrong")).open()
    assert raised.value.permanent and raised.value.auth
    assert "Re-enter the password" in raised.value.message


def test_it_opens_a_shared_mailbox_only_with_full_access(ews: EwsServer) -> None:
    ews.add_mailbox(SHARED)
    ews.deliver(mail(1, SHARED), mailbox=SHARED)
    with pytest.raises(ConnectorError) as raised:
        list(connector(ews, user=SHARED).fetch({}).messages())
    assert raised.value.auth and raised.value.server_reply.startswith("ErrorAccessDenied: ")
    ews.grant("agent", SHARED)
    with connector(ews, user=SHARED) as session:
        assert [m.raw for m in session.fetch({}).messages()] == [mail(1, SHARED)]


def test_it_logs_in_with_ntlm_when_the_server_offers_it() -> None:
    with EwsServer(mailbox=SUPPORT, ntlm=True) as ews:
        ews.deliver(mail(1))
        with connector(ews, username="HELPDESK\\agent") as session:
            assert [m.raw for m in session.fetch({}).messages()] == [mail(1)]
            assert session.client().protocol.auth_type == "NTLM"


def test_it_logs_in_with_an_oauth_token(ews: EwsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib sends tokens over https only; the fake speaks http (production URLs are https).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    ews.deliver(mail(1))
    token = BearerToken(ews.issue_token("agent"))
    with connector(ews, token, auth="oauth2") as session:
        assert [m.raw for m in session.fetch({}).messages()] == [mail(1)]


def test_it_refuses_to_send_an_oauth_token_over_http(ews: EwsServer) -> None:
    token = BearerToken(ews.issue_token("agent"))
    with pytest.raises(ConnectorError) as raised:
        connector(ews, token, auth="oauth2").open()
    assert raised.value.permanent and "OAuth2 needs https" in raised.value.message


def test_it_waits_while_exchange_is_busy(ews: EwsServer) -> None:
    ews.deliver(mail(1))
    with connector(ews) as session:
        session.folder()
        ews.busy_next(1, back_off_ms=100)
        assert [m.raw for m in session.fetch({}).messages()] == [mail(1)]


def test_it_walks_the_connection_test_steps(ews: EwsServer) -> None:
    ews.deliver(mail(1))
    steps = testconn.test_inbound(ews_inbound(ews), PASSWORD)
    assert [(s.name.split(" ")[0], s.ok) for s in steps] == [
        ("reach", True),
        ("TLS", True),
        ("log", True),
        ("open", True),
        ("count", True),
    ]
    assert "Exchange" in steps[2].detail
    assert steps[4].detail == "1 messages, 1 unread"


def test_its_connection_test_names_the_folders_when_the_folder_is_missing(ews: EwsServer) -> None:
    steps = testconn.test_inbound(ews_inbound(ews, folder="Support"), PASSWORD)
    assert [s.ok for s in steps] == [True, True, True, False]
    assert "'Support' does not exist" in steps[3].detail and "Inbox" in steps[3].detail


def test_its_connection_test_stops_at_a_refused_login(ews: EwsServer) -> None:
    steps = testconn.test_inbound(ews_inbound(ews), Password("wrong"))
    assert [s.ok for s in steps] == [True, True, False]
    assert "Re-enter the password" in steps[2].detail


def test_its_connection_test_says_when_nothing_answers(ews: EwsServer) -> None:
    config = ews_inbound(ews).model_copy(update={"ews_url": "http://127.0.0.1:9/EWS/Exchange.asmx"})
    steps = testconn.test_inbound(config, PASSWORD)
    assert [s.ok for s in steps] == [False]


# -- sending ----------------------------------------------------------------------------------


def reply(sender: str = SUPPORT) -> bytes:
    return (
        f"From: Support <{sender}>\r\nTo: {CUSTOMER}\r\nSubject: Re: [SUP#7] question 1\r\n"
        "Message-ID: <t7.r1.sig@helpdesk.test>\r\nIn-Reply-To: <q1@customer.test>\r\n"
        "References: <q1@customer.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nFixed.\r\n"
    ).encode()


def test_it_sends_our_mime_and_saves_the_copy_in_sent_items(ews: EwsServer) -> None:
    with EwsSender(ews_outbound(ews), PASSWORD) as sender:
        assert sender.send(SUPPORT, [CUSTOMER], reply()) == {}
    [copy] = ews.messages("sentitems")
    assert copy.raw == reply()
    [delivered] = ews.messages("inbox", mailbox=CUSTOMER)
    assert delivered.raw == reply()


def test_it_sends_from_a_shared_mailbox_into_its_sent_items(ews: EwsServer) -> None:
    ews.add_mailbox(SHARED)
    ews.grant("agent", SHARED)
    with EwsSender(ews_outbound(ews, user=SHARED), PASSWORD) as sender:
        sender.send(SHARED, [CUSTOMER], reply(SHARED))
    assert [m.raw for m in ews.messages("sentitems", mailbox=SHARED)] == [reply(SHARED)]
    assert ews.messages("sentitems") == []


def test_it_reports_a_refused_send_as_in_the_servers_words(ews: EwsServer) -> None:
    with EwsSender(ews_outbound(ews), PASSWORD) as sender:
        with pytest.raises(ConnectorError) as raised:
            sender.send(SUPPORT, [CUSTOMER], reply("boss@helpdesk.test"))
    assert raised.value.permanent and raised.value.auth
    assert raised.value.server_reply.startswith("ErrorSendAsDenied: ")
