"""Microsoft mailboxes connected from the console's Email accounts pages, end to end.

An admin adds an Office 365 account, an Office 365 shared mailbox and an Exchange Server
account through the forms, signs in by consent on the suite's token server, runs the
connection test and switches the account on; then a customer's mail becomes a ticket
after a sync pass, the agent's reply leaves through Graph or EWS with our Message-ID,
and the customer's answer lands in the same ticket.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.utils import parseaddr
from typing import Any

import pytest
from django.test import Client

from deskmail.connectors.tests.mshelpers import CUSTOMER, mail
from deskmail.ingest.inbox import drain
from deskmail.mailboxes.connections import inbound_session
from deskmail.mailboxes.models import Mailbox, OAuthGrant
from deskmail.outbound.queue import queue_reply
from deskmail.outbound.send import send_due
from deskmail.sync.driver import sync_pass
from deskmail.testing.ewsserver import EwsServer
from deskmail.testing.graphserver import GraphServer, introspected_by
from deskmail.testing.personas import Team
from deskmail.testing.tokenserver import TokenServer
from deskmail.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

CALLBACK = "http://testserver/oauth/callback/"
SUPPORT = "support@contoso.test"
SHARED = "team@contoso.test"
AGENT = "agent@contoso.test"


@pytest.fixture
def tokens(settings: Any) -> Iterator[TokenServer]:
    server = TokenServer().start()
    settings.CA_FILE = server.cafile
    yield server
    server.stop()


@pytest.fixture
def graph(tokens: TokenServer) -> Iterator[GraphServer]:
    """Graph trusting the tenant's tokens, as Microsoft Graph trusts Entra ID's."""
    with GraphServer(introspected_by(tokens.introspect), tls=tokens.server_tls()) as server:
        for address in (SUPPORT, SHARED, AGENT, CUSTOMER):
            server.add_mailbox(address)
        yield server


def _admin(team: Team) -> Client:
    client = Client()
    client.force_login(team.ada)
    return client


def _graph_form(graph: GraphServer, tokens: TokenServer, **changes: str) -> dict[str, str]:
    app = tokens.register_client(redirect_uris=(CALLBACK,))
    return {
        "name": "o365",
        "key": "O365",
        "address": SUPPORT,
        "purpose": "receive_send",
        "status": "draft",
        "client_id": app.client_id,
        "client_secret": app.secret or "",
        "tenant": tokens.tenant_domain,
        "authority_host": tokens.base_url,
        "graph_url": graph.graph_url,
        "folder": "Inbox",
        "poll_seconds": "60",
        "connect_timeout_s": "10",
        "auth_timeout_s": "10",
        "save": "1",
        **changes,
    }


def _connect(admin: Client, name: str, tokens: TokenServer, login: str) -> str:
    """Connect with Microsoft: consent on the token server, back to the callback."""
    started = admin.get(f"/accounts/{name}/connect/")
    assert started.status_code == 302, started
    answer = tokens.consent(started["Location"], login=login)
    landed = admin.get("/oauth/callback/", answer)
    assert landed.status_code == 200
    return landed.content.decode()


def _switch_on(admin: Client, name: str) -> None:
    response = admin.post(f"/accounts/{name}/switch/", {"enabled": "true"})
    assert response.status_code == 302
    assert Mailbox.objects.get(name=name).status == "active"


def _sync(name: str) -> int:
    mailbox = Mailbox.objects.get(name=name)
    with inbound_session(mailbox) as session:
        report = sync_pass(mailbox, session)
    drain()
    return report.fetched


def _message_id(raw: bytes) -> str:
    return next(
        line.split(b":", 1)[1].strip().decode()
        for line in raw.split(b"\r\n")
        if line.lower().startswith(b"message-id:")
    )


def _answer(reply: bytes, to: str) -> bytes:
    """The customer's answer to our reply, threaded by In-Reply-To only."""
    return (
        f"From: Customer <{CUSTOMER}>\r\nTo: {to}\r\nSubject: thanks\r\n"
        f"Message-ID: <answer@customer.test>\r\nIn-Reply-To: {_message_id(reply)}\r\n"
        "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\nThat worked.\r\n"
    ).encode()


def _in_one_thread(ticket: Ticket) -> None:
    assert Ticket.objects.count() == 1
    assert list(Message.objects.filter(ticket=ticket).values_list("direction", flat=True)) == [
        Message.Direction.IN,
        Message.Direction.OUT,
        Message.Direction.IN,
    ]


def _round_trip_over_graph(graph: GraphServer, name: str, address: str, key: str) -> None:
    graph.deliver(address, mail(1, address, sender=f"Customer <{CUSTOMER}>"))
    assert _sync(name) == 1
    ticket = Ticket.objects.get()
    assert ticket.mailbox.name == name

    item = queue_reply(ticket, body_text="Try turning it off and on.")
    assert send_due().sent == 1
    [copy] = graph.messages(address, "sentitems")
    [reply] = graph.messages(CUSTOMER)
    assert reply.raw == copy.raw and _message_id(copy.raw) == f"<{item.message_id}>"
    assert f"[{key}#{ticket.number}]".encode() in copy.raw
    [sent] = graph.outbox  # sendMail with the MIME we built, from the account's mailbox
    assert sent.mailbox == address and sent.raw == copy.raw
    assert parseaddr(message_from_bytes(copy.raw)["From"])[1] == address

    graph.deliver(address, _answer(reply.raw, address))
    assert _sync(name) == 1
    _in_one_thread(ticket)


def test_an_admin_connects_an_office_365_account_and_it_carries_mail_both_ways(
    team: Team, tokens: TokenServer, graph: GraphServer
):
    tokens.add_user(SUPPORT)
    admin = _admin(team)
    response = admin.post("/accounts/new/graph/", _graph_form(graph, tokens))
    assert response.status_code == 302, response.context["form"].errors
    assert "Connect with Microsoft" in admin.get("/accounts/o365/").content.decode()

    page = _connect(admin, "o365", tokens, SUPPORT)

    assert f"Connected o365 as {SUPPORT}" in page
    assert "Incoming: every step passed" in page and "Outgoing: every step passed" in page
    grant = OAuthGrant.objects.get(mailbox__name="o365")
    assert grant.status == "connected" and grant.refresh_token not in page
    tested = admin.post("/accounts/o365/test/").content.decode()
    assert "Incoming: every step passed" in tested and "Outgoing: every step passed" in tested
    _switch_on(admin, "o365")

    _round_trip_over_graph(graph, "o365", SUPPORT, "O365")


def test_an_admin_connects_an_office_365_shared_mailbox_signing_in_as_a_member(
    team: Team, tokens: TokenServer, graph: GraphServer
):
    tokens.add_user(AGENT)
    admin = _admin(team)
    form = _graph_form(graph, tokens, address=SHARED, shared_address=SHARED, key="TEAM")
    response = admin.post("/accounts/new/graph_shared/", form)
    assert response.status_code == 302, response.context["form"].errors

    page = _connect(admin, "o365", tokens, AGENT)

    assert f"Connected o365 as {AGENT}" in page
    assert "Incoming: failed" in page and "ErrorAccessDenied" in page  # no rights on it yet
    graph.grant(AGENT, SHARED, {"FullAccess", "SendAs"})  # as Exchange's admin would
    tested = admin.post("/accounts/o365/test/").content.decode()
    assert "Incoming: every step passed" in tested and "Outgoing: every step passed" in tested
    _switch_on(admin, "o365")

    _round_trip_over_graph(graph, "o365", SHARED, "TEAM")
    assert graph.messages(AGENT, "sentitems") == []


def test_an_admin_adds_an_exchange_server_account_and_it_carries_mail_both_ways(
    team: Team, tokens: TokenServer
):
    tls = tokens.server_tls()  # Exchange's own certificate, trusted through CA_FILE
    with EwsServer(mailbox=SUPPORT, username="agent", password="Secret-1", tls=tls) as ews:
        ews.add_mailbox(CUSTOMER)
        admin = _admin(team)
        form = {
            "name": "exchange",
            "key": "EX",
            "address": SUPPORT,
            "purpose": "receive_send",
            "status": "active",
            "username": "agent",
            "password": "Secret-1",
            "ews_url": ews.url,
            "folder": "Inbox",
            "poll_seconds": "60",
            "connect_timeout_s": "10",
            "auth_timeout_s": "10",
        }
        tested = admin.post("/accounts/new/ews/", {**form, "test": "1"})
        page = tested.content.decode()
        assert tested.status_code == 200, tested.context["form"].errors
        assert "Incoming: every step passed" in page and "Outgoing: every step passed" in page
        assert "Secret-1" not in page and not Mailbox.objects.filter(name="exchange").exists()

        saved = admin.post("/accounts/new/ews/", {**form, "save": "1"})
        assert saved.status_code == 302, saved.context["form"].errors
        assert Mailbox.objects.get(name="exchange").status == "active"

        ews.deliver(mail(1, SUPPORT, sender=f"Customer <{CUSTOMER}>"))
        assert _sync("exchange") == 1
        ticket = Ticket.objects.get()
        item = queue_reply(ticket, body_text="Try turning it off and on.")
        assert send_due().sent == 1
        [copy] = ews.messages("sentitems")
        [reply] = ews.messages("inbox", mailbox=CUSTOMER)
        [sent] = ews.outbox  # CreateItem with our MIME, SendAndSaveCopy
        assert sent.mailbox == SUPPORT and sent.raw == copy.raw
        assert reply.raw == copy.raw and _message_id(copy.raw) == f"<{item.message_id}>"
        assert f"[EX#{ticket.number}]".encode() in copy.raw

        ews.deliver(_answer(reply.raw, SUPPORT))
        assert _sync("exchange") == 1
        _in_one_thread(ticket)
