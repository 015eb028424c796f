"""Change notifications: the endpoint, the subscription's life, and waking the sync.

The fake Graph server posts its validation requests, notifications and lifecycle
events to deskmail's endpoint served by a live server on loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from deskmail.connectors.credentials import BearerToken
from deskmail.connectors.graph import GraphConnector
from deskmail.connectors.tests.mshelpers import SUPPORT, graph_inbound, mail
from deskmail.ingest.models import InboxItem
from deskmail.mailboxes.connections import inbound_session
from deskmail.msgraph.models import GraphSubscription
from deskmail.msgraph.store import DatabaseSubscriptions
from deskmail.sync.runner import MailboxRunner
from deskmail.testing.builders import make_mailbox
from deskmail.testing.graphserver import GraphServer
from deskmail.testing.waiting import eventually

ENDPOINT = "/graph/notifications/"


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    with GraphServer() as server:
        server.add_mailbox(SUPPORT)
        yield server


def subscribed_mailbox(**subscription: Any) -> GraphSubscription:
    mailbox = make_mailbox(address=SUPPORT)
    return GraphSubscription.objects.create(
        mailbox=mailbox, subscription_id="sub-1", client_state="s3cret", **subscription
    )


def post(client: Client, *entries: dict[str, Any]) -> int:
    answer = client.post(ENDPOINT, json.dumps({"value": list(entries)}), "application/json")
    return int(answer.status_code)


# -- the endpoint ---------------------------------------------------------------------------


def test_it_answers_the_validation_handshake_with_the_token_as_plain_text(client: Client) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1"
    answer = client.post(
        f"{ENDPOINT}?validationToken=Validation%3A+Testing+client+application+reachability"
        "+for+subscription+Request-Id%3A+1",
        b"",
        "text/plain",
    )
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    assert answer.content.decode() == token


@pytest.mark.django_db
def test_it_wakes_the_mailbox_only_for_the_subscriptions_client_state(client: Client) -> None:
    row = subscribed_mailbox()
    forged = {"subscriptionId": "sub-1", "clientState": "guess", "changeType": "created"}
    assert post(client, forged) == 202
    row.refresh_from_db()
    assert not row.wake
    assert post(client, {**forged, "clientState": "s3cret"}) == 202
    row.refresh_from_db()
    assert row.wake and row.notified_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event", "needs"),
    [("reauthorizationRequired", "reauthorize"), ("subscriptionRemoved", "recreate"),
     ("missed", "")],
)  # fmt: skip
def test_a_lifecycle_event_wakes_the_mailbox_and_says_what_it_needs(
    client: Client, event: str, needs: str
) -> None:
    row = subscribed_mailbox()
    assert post(client, {"subscriptionId": "sub-1", "clientState": "s3cret",
                         "lifecycleEvent": event}) == 202  # fmt: skip
    row.refresh_from_db()
    assert row.wake and row.needs == needs


@pytest.mark.django_db
def test_it_refuses_what_is_no_notification(client: Client) -> None:
    assert client.post(ENDPOINT, b"not json", "application/json").status_code == 400
    assert client.get(ENDPOINT).status_code == 405


# -- with Graph -----------------------------------------------------------------------------


@pytest.fixture
def session(graph: GraphServer, live_server: Any) -> Iterator[GraphConnector]:
    """A Graph mailbox woken by notifications that Graph posts to the live server."""
    mailbox = make_mailbox(address=SUPPORT)
    config = graph_inbound(graph, notifications_url=live_server.url, poll_seconds=1)
    connector = GraphConnector(config, BearerToken(graph.issue_token(SUPPORT, ["Mail.ReadWrite"])))
    connector.notify_through(DatabaseSubscriptions(mailbox.pk))
    with connector:
        yield connector


def fetch_all(session: GraphConnector, cursor: dict[str, Any]) -> tuple[list[bytes], Any]:
    fetched: list[bytes] = []
    for batch in session.fetch(cursor).batches:
        fetched += [m.raw for m in batch.messages]
        cursor = session.acknowledge(batch.cursor)
    return fetched, cursor


def waits(session: GraphConnector, seconds: float = 30) -> bool:
    return session.wait_for_new_mail(seconds)


class Waiting:
    """A wait for new mail in a thread of its own, as the worker's runner waits."""

    def __init__(self, session: GraphConnector) -> None:
        self.result: bool | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(session,), daemon=True)
        self._thread.start()

    def _run(self, session: GraphConnector) -> None:
        self.result = session.wait_for_new_mail(60, stop=self._stop.is_set)

    def woken(self) -> bool:
        self._thread.join(30)
        return bool(self.result)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.mark.django_db(transaction=True)
def test_it_subscribes_and_wakes_the_sync_when_mail_comes(
    graph: GraphServer, session: GraphConnector
) -> None:
    assert session.can_wait()
    _, cursor = fetch_all(session, {})
    assert waits(session)  # the subscription was just made: one more sync
    [subscription_id] = graph.subscription_ids()
    row = GraphSubscription.objects.get()
    assert row.subscription_id == subscription_id and len(row.client_state) >= 32
    attempts = [a for a in graph.notification_log]  # the handshake is not a notification
    assert attempts == []

    waiting = Waiting(session)
    graph.deliver(SUPPORT, mail(1))
    assert waiting.woken()
    fetched, cursor = fetch_all(session, cursor)
    assert fetched == [mail(1)]
    assert [a.status for a in graph.notification_log] == [202]


@pytest.mark.django_db(transaction=True)
def test_notifications_twice_or_out_of_order_store_each_message_once(
    graph: GraphServer, session: GraphConnector
) -> None:
    _, cursor = fetch_all(session, {})
    assert waits(session)
    graph.duplicate_notifications(1)
    waiting = Waiting(session)
    graph.deliver(SUPPORT, mail(1))
    assert waiting.woken()
    graph.flush_notifications()
    assert len(graph.notification_log) == 2  # the one notification came twice
    fetched, cursor = fetch_all(session, cursor)
    assert fetched == [mail(1)]

    graph.hold_notifications()
    graph.deliver(SUPPORT, mail(2))
    graph.deliver(SUPPORT, mail(3))
    waiting = Waiting(session)
    graph.release_notifications(reverse=True)
    assert waiting.woken()
    fetched, cursor = fetch_all(session, cursor)
    assert fetched == [mail(2), mail(3)]  # in the folder's order, whatever the notifications'
    graph.flush_notifications()
    assert fetch_all(session, cursor)[0] == []  # however often it is woken


@pytest.mark.django_db(transaction=True)
def test_it_makes_the_subscription_again_when_graph_removed_it(
    graph: GraphServer, session: GraphConnector
) -> None:
    assert waits(session)
    [first] = graph.subscription_ids()
    graph.send_lifecycle_event(first, "subscriptionRemoved")
    graph.flush_notifications()
    assert waits(session)  # woken, and made again
    [second] = graph.subscription_ids()
    assert second != first
    assert GraphSubscription.objects.get().subscription_id == second


@pytest.mark.django_db(transaction=True)
def test_it_reauthorizes_and_renews_when_graph_asks(
    graph: GraphServer, session: GraphConnector
) -> None:
    assert waits(session)
    [subscription_id] = graph.subscription_ids()
    row = GraphSubscription.objects.get()
    GraphSubscription.objects.update(expires_at=row.expires_at - dt.timedelta(hours=60))
    graph.send_lifecycle_event(subscription_id, "reauthorizationRequired")
    graph.flush_notifications()
    waiting = Waiting(session)
    eventually(lambda: GraphSubscription.objects.get().needs == "", 30, "reauthorized")
    waiting.stop()
    renewed = GraphSubscription.objects.get()
    assert renewed.subscription_id == subscription_id
    assert renewed.expires_at > row.expires_at - dt.timedelta(minutes=5)


@pytest.mark.django_db(transaction=True)
def test_it_renews_a_subscription_a_day_before_it_expires(
    graph: GraphServer, session: GraphConnector
) -> None:
    assert waits(session)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    GraphSubscription.objects.update(expires_at=soon)
    waiting = Waiting(session)
    eventually(
        lambda: GraphSubscription.objects.get().expires_at > soon + dt.timedelta(days=1),
        30,
        "the subscription renewed",
    )
    waiting.stop()
    answer = session.client().call("GET", f"/subscriptions/{graph.subscription_ids()[0]}", "t")
    assert answer.json()["expirationDateTime"] > (soon + dt.timedelta(days=1)).isoformat()


@pytest.mark.django_db(transaction=True)
def test_it_polls_when_graph_cannot_reach_the_endpoint(graph: GraphServer) -> None:
    mailbox = make_mailbox(address=SUPPORT)
    config = graph_inbound(graph, notifications_url="http://127.0.0.1:9", poll_seconds=1)
    connector = GraphConnector(config, BearerToken(graph.issue_token(SUPPORT, ["Mail.Read"])))
    connector.notify_through(DatabaseSubscriptions(mailbox.pk))
    with connector:
        assert connector.can_wait()
        assert not connector.wait_for_new_mail(30)  # after poll_seconds, for a delta round
        assert not connector.can_wait()  # the worker polls for a while before trying again
    assert graph.subscription_ids() == []


@pytest.mark.django_db
def test_a_mailbox_with_a_notifications_url_gets_a_waiting_session(graph: GraphServer) -> None:
    mailbox = make_mailbox(
        address=SUPPORT,
        inbound={"protocol": "graph", "graph_url": graph.graph_url, "security": "none",
                 "auth": "oauth2", "notifications_url": "https://deskmail.example.com"},
    )  # fmt: skip
    session = inbound_session(mailbox)
    assert isinstance(session, GraphConnector) and session.can_wait()
    without = make_mailbox(
        name="other", key="OTH", address="other@helpdesk.test",
        inbound={"protocol": "graph", "graph_url": graph.graph_url, "security": "none",
                 "auth": "oauth2"},
    )  # fmt: skip
    assert not inbound_session(without).can_wait()


@pytest.mark.django_db(transaction=True)
def test_the_worker_syncs_a_graph_mailbox_when_a_notification_comes(
    graph: GraphServer, live_server: Any
) -> None:
    """The worker's runner on a mailbox that would poll once an hour: only a notification
    can bring the mail in time."""
    mailbox = make_mailbox(
        address=SUPPORT,
        inbound={"protocol": "graph", "graph_url": graph.graph_url, "security": "none",
                 "auth": "oauth2", "poll_seconds": 3600, "notifications_url": live_server.url},
    )  # fmt: skip
    mailbox.inbound_secret = graph.issue_token(SUPPORT, ["Mail.ReadWrite"])
    mailbox.save()
    runner = MailboxRunner(mailbox.pk, "test-worker")
    runner.start()
    try:
        eventually(
            lambda: (
                GraphSubscription.objects.filter(wake=False).exclude(subscription_id="").exists()
                and runner.passes >= 2
            ),
            30,
            "subscribed and synced",
        )
        graph.deliver(SUPPORT, mail(1))
        eventually(lambda: InboxItem.objects.count() == 1, 30, "the new mail in the inbox")
    finally:
        runner.stop()
        runner.join(timeout=15)
    assert not runner.is_alive()
    assert [m.is_read for m in graph.messages(SUPPORT)] == [True]
