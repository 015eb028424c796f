"""The whole loop with real servers: a customer's mail arrives in Dovecot and is ingested, a
webhook tells a local receiver (signed), the receiver answers through the API, the reply waits
in the outbox with the right recipients, and Postfix delivers it into the customer's mailbox,
in their thread."""

from __future__ import annotations

import email
import json
import urllib.request
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from django.test import Client

from deskmail.ingest.api import ingest
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.send import send_due
from deskmail.services import people
from deskmail.services import tokens as access_tokens
from deskmail.services.access import SYSTEM
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.waiting import eventually
from deskmail.testing.webhook_receiver import Received, WebhookReceiver
from deskmail.webhooks import signing
from deskmail.webhooks.send import deliver_due

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]


def _mail_in(servers: MailServers, account: MailAccount, count: int) -> list[EmailMessage]:
    def arrived() -> list[bytes]:
        raws = servers.read_mailbox(account)
        return raws if len(raws) >= count else []

    raws = eventually(arrived, timeout=60, what=f"{count} mail(s) for {account.address}")
    return [email.message_from_bytes(raw, policy=policy.default) for raw in raws]  # type: ignore[misc]


def test_a_webhook_brings_the_mail_and_the_reply_through_the_api_reaches_the_customer(
    mail_servers: MailServers, team: Any, live_server: Any, settings: Any
) -> None:
    settings.CA_FILE = mail_servers.cafile
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = make_mailbox(
        "support",
        "SUP",
        desk.address,
        display_name="Example Support",
        outbound={
            "host": mail_servers.host,
            "port": mail_servers.ports["submission"],
            "security": "starttls",
            "username": desk.address,
        },
    )
    mailbox.outbound_secret = desk.password
    mailbox.save()
    people.add_to_team(SYSTEM, mailbox, ["nora@helpdesk.example"])
    bot_token = access_tokens.create(SYSTEM, team.nora, name="reply bot")[1]
    admin = access_tokens.create(SYSTEM, team.ada, name="setup")[1]

    with WebhookReceiver() as receiver:
        secret: dict[str, str] = {}
        replied: list[int] = []

        def reply_bot(item: Received) -> None:
            """The receiver's program: check the signature, then answer through the API."""
            headers = item.headers
            assert signing.verify(
                secret["value"], headers[signing.TIMESTAMP], item.body, headers[signing.SIGNATURE]
            )
            event = item.json()
            request = urllib.request.Request(  # noqa: S310 - the test's own live server
                f"{live_server.url}/api/v1/tickets/{event['ticket']['number']}/replies",
                data=json.dumps(
                    {"body_text": "Thanks, Ann! A technician comes on Monday."}
                ).encode(),
                headers={
                    "Authorization": f"Bearer {bot_token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": headers[signing.DELIVERY],
                },
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                replied.append(answer.status)

        receiver.on_post = reply_bot
        registered = Client().post(
            "/api/v1/webhooks",
            json.dumps(
                {
                    "url": receiver.url,
                    "events": ["message.received"],
                    "allow_private_addresses": True,
                }
            ),
            content_type="application/json",
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert registered.status_code == 201, registered.content
        secret["value"] = registered.json()["secret"]

        first = make_email(
            sender=f"Ann Customer <{customer.address}>",
            to=desk.address,
            subject="Printer broken",
            message_id="ann-1@customer.test",
        )
        mail_servers.append(desk, first)
        ticket = ingest(mailbox, mail_servers.read_mailbox(desk)[0]).ticket
        assert ticket is not None

        report = deliver_due()

        assert report.delivered == 1, report
        assert receiver.errors == [] and replied == [201]

    item = OutboxItem.objects.select_related("outgoing").get()
    assert item.ticket_id == ticket.pk and item.agent == team.nora
    assert (item.outgoing.to, item.outgoing.cc) == ([customer.address], [])

    assert send_due().sent == 1
    (got,) = _mail_in(mail_servers, customer, 1)
    assert got["In-Reply-To"] == "<ann-1@customer.test>"
    assert got["Subject"] == f"Re: [SUP#{ticket.number}] Printer broken"
    assert "A technician comes on Monday." in got.get_body(("plain",)).get_content()
