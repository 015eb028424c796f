"""Graph and EWS mailboxes end to end: configured as an admin would, synced by the worker's
pass, replied to through the outbox, with the customer's answer back in the same ticket."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from deskmail.connectors.credentials import BearerToken
from deskmail.connectors.tests.mshelpers import APP_PERMISSIONS, CUSTOMER, SHARED, SUPPORT, mail
from deskmail.ingest.inbox import drain
from deskmail.mailboxes.connections import credentials, inbound_session
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.queue import queue_reply
from deskmail.outbound.send import send_due
from deskmail.sync.driver import sync_pass
from deskmail.testing.builders import make_mailbox
from deskmail.testing.ewsserver import EwsServer
from deskmail.testing.graphserver import GraphServer, Principal
from deskmail.testing.tokenserver import TokenServer
from deskmail.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db
SECRET_ENV = "DESKMAIL_TEST_GRAPH_APP_SECRET"


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    server = TokenServer().start()
    yield server
    server.stop()


@pytest.fixture
def graph(tokens: TokenServer) -> Iterator[GraphServer]:
    """Graph accepting the app-only tokens of the token server (the app's id as subject)."""

    def validator(token: str) -> Principal | None:
        found = tokens.introspect(token)
        if not found.get("active") or not found.get("client_id"):
            return None
        return Principal(str(found["client_id"]), APP_PERMISSIONS, application=True)

    with GraphServer(validator) as server:
        server.add_mailbox(SHARED)
        server.add_mailbox(CUSTOMER)
        yield server


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    with EwsServer(mailbox=SUPPORT, username="agent", password="Secret-1") as server:
        server.add_mailbox(CUSTOMER)
        yield server


def graph_mailbox(
    graph: GraphServer,
    tokens: TokenServer,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    **inbound: Any,
) -> Mailbox:
    """The shared mailbox over Graph, with application permissions granted on it alone."""
    app = tokens.register_client(app_mailbox=SHARED)
    graph.grant(app.client_id, SHARED, APP_PERMISSIONS)
    assert app.secret is not None
    monkeypatch.setenv(SECRET_ENV, app.secret)
    settings.CA_FILE = tokens.cafile
    return make_mailbox(
        name="o365-support",
        key="O365",
        address=SHARED,
        inbound={
            "protocol": "graph",
            "graph_url": graph.graph_url,
            "security": "none",
            "auth": "oauth2",
            "folder": "Inbox",
            "after_fetch": "mark_read",
            **inbound,
        },
        outbound={"protocol": "graph"},
        oauth={
            "provider": "microsoft",
            "tenant": tokens.tenant_domain,
            "client_id": app.client_id,
            "client_secret_env": SECRET_ENV,
            "authority_host": tokens.base_url,
        },
    )


def ews_mailbox(ews: EwsServer) -> Mailbox:
    mailbox = make_mailbox(
        name="exchange-onprem",
        key="EX",
        address=SUPPORT,
        inbound={
            "protocol": "ews",
            "ews_url": ews.url,
            "security": "none",
            "username": "HELPDESK\\agent",
            "folder": "Inbox",
        },
        outbound={"protocol": "ews"},
    )
    mailbox.inbound_secret = "Secret-1"
    mailbox.save()
    return mailbox


def sync(mailbox: Mailbox) -> int:
    """One sync pass as the worker runs it, then the engine over what it stored."""
    with inbound_session(mailbox) as session:
        report = sync_pass(mailbox, session)
    drain()
    return report.fetched


def answer_to(reply: bytes, n: int) -> bytes:
    """The customer's answer to our reply, threaded by In-Reply-To only."""
    message_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in reply.split(b"\r\n")
        if line.lower().startswith(b"message-id:")
    )
    return (
        f"From: Customer <{CUSTOMER}>\r\nTo: x@y.test\r\nSubject: thanks\r\n"
        f"Message-ID: <answer{n}@customer.test>\r\nIn-Reply-To: {message_id}\r\n"
        "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\nThat worked.\r\n"
    ).encode()


def test_a_shared_mailbox_over_graph_carries_mail_both_ways_in_one_thread(
    graph: GraphServer, tokens: TokenServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox = graph_mailbox(graph, tokens, settings, monkeypatch)
    graph.deliver(SHARED, mail(1, SHARED, sender=f"Customer <{CUSTOMER}>"))
    assert sync(mailbox) == 1
    ticket = Ticket.objects.get()
    assert [m.is_read for m in graph.messages(SHARED)] == [True]

    item = queue_reply(ticket, body_text="Try turning it off and on.")
    assert send_due().sent == 1
    [copy] = graph.messages(SHARED, "sentitems")
    assert f"<{item.message_id}>".encode() in copy.raw
    assert f"[O365#{ticket.number}]".encode() in copy.raw
    [reply] = graph.messages(CUSTOMER)
    assert reply.raw == copy.raw

    graph.deliver(SHARED, answer_to(reply.raw, 1))
    assert sync(mailbox) == 1
    assert Ticket.objects.count() == 1
    assert list(Message.objects.filter(ticket=ticket).values_list("direction", flat=True)) == [
        Message.Direction.IN,
        Message.Direction.OUT,
        Message.Direction.IN,
    ]


def test_a_graph_resync_stores_nothing_twice(
    graph: GraphServer, tokens: TokenServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox = graph_mailbox(graph, tokens, settings, monkeypatch, after_fetch="leave")
    for n in range(3):
        graph.deliver(SHARED, mail(n, SHARED))
    assert sync(mailbox) == 3
    graph.expire_delta_tokens()
    graph.deliver(SHARED, mail(3, SHARED))
    with inbound_session(mailbox) as session:
        report = sync_pass(mailbox, session)
    drain()
    assert report.resync and report.fetched == 4  # offered again, stored once
    assert Ticket.objects.count() == 4
    assert Message.objects.count() == 4


def test_an_exchange_server_mailbox_over_ews_carries_mail_both_ways_in_one_thread(
    ews: EwsServer,
) -> None:
    mailbox = ews_mailbox(ews)
    ews.deliver(mail(1, SUPPORT, sender=f"Customer <{CUSTOMER}>"))
    assert sync(mailbox) == 1
    ticket = Ticket.objects.get()

    queue_reply(ticket, body_text="Try turning it off and on.")
    assert send_due().sent == 1
    [copy] = ews.messages("sentitems")
    [reply] = ews.messages("inbox", mailbox=CUSTOMER)
    assert reply.raw == copy.raw and f"[EX#{ticket.number}]".encode() in copy.raw

    ews.deliver(answer_to(reply.raw, 1))
    assert sync(mailbox) == 1
    assert Ticket.objects.count() == 1
    assert Message.objects.filter(ticket=ticket).count() == 3


def test_the_mailbox_test_command_walks_a_graph_mailbox(
    graph: GraphServer, tokens: TokenServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph_mailbox(graph, tokens, settings, monkeypatch)
    out = io.StringIO()
    call_command("mailboxes", "test", "o365-support", stdout=out)
    text = out.getvalue()
    assert "inbound (graph):" in text and "outbound (graph):" in text
    assert "every step passed" in text and f"sign in to Graph for {SHARED}" in text


def test_the_mailbox_test_command_walks_an_ews_mailbox(ews: EwsServer) -> None:
    ews_mailbox(ews)
    out = io.StringIO()
    call_command("mailboxes", "test", "exchange-onprem", stdout=out)
    text = out.getvalue()
    assert "inbound (ews):" in text and "count messages in 'Inbox': 0 messages" in text
    assert "every step passed" in text


def test_the_mailbox_test_command_says_when_the_app_secret_is_missing(
    graph: GraphServer, tokens: TokenServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph_mailbox(graph, tokens, settings, monkeypatch)
    monkeypatch.delenv(SECRET_ENV)
    out = io.StringIO()
    with pytest.raises(Exception, match="connection test failed"):
        call_command("mailboxes", "test", "o365-support", stdout=out)
    assert f"{SECRET_ENV} (client_secret_env) is empty" in out.getvalue()


def test_a_stored_access_token_is_used_as_it_is(graph: GraphServer) -> None:
    mailbox = make_mailbox(
        name="delegated",
        key="DEL",
        address=SHARED,
        inbound={"protocol": "graph", "graph_url": graph.graph_url, "security": "none",
                 "auth": "oauth2"},
        outbound={"protocol": "graph"},
    )  # fmt: skip
    mailbox.inbound_secret = "an-access-token"
    mailbox.save()
    for direction in ("inbound", "outbound"):
        token = credentials(mailbox, direction)
        assert isinstance(token, BearerToken) and token.secret() == "an-access-token"
