"""Real servers: a mailbox that takes no new tickets keeps new mail from Dovecot and answers
it through Postfix, in the sender's thread; the customer's reply to a ticket still joins it."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.outbound.send import send_due
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.waiting import eventually
from deskmail.tickets.models import Message, Ticket

pytestmark = [pytest.mark.servers, pytest.mark.django_db]


def _mail_in(servers: MailServers, account: MailAccount, count: int) -> list[EmailMessage]:
    def arrived() -> list[bytes]:
        raws = servers.read_mailbox(account)
        return raws if len(raws) >= count else []

    raws = eventually(arrived, timeout=60, what=f"{count} mail(s) for {account.address}")
    return [email.message_from_bytes(raw, policy=policy.default) for raw in raws]  # type: ignore[misc]


def test_new_mail_is_kept_and_answered_while_replies_thread(
    mail_servers: MailServers, settings: Any
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
    old = make_email(
        sender=f"Ann Customer <{customer.address}>",
        to=desk.address,
        subject="Old question",
        message_id="ann-old@customer.test",
    )
    mail_servers.append(desk, old)
    earlier = ingest(mailbox, mail_servers.read_mailbox(desk)[0])
    assert earlier.ticket is not None
    configure(
        mailbox,
        tickets={"allow_new_tickets": False, "no_new_tickets_reply": "moved"},
        routing={
            "templates": [
                {
                    "name": "moved",
                    "subject": "Not here: {{ ticket.title }}",
                    "body": "<p>Dear {{ contact.first_name }}, please use our portal.</p>",
                }
            ]
        },
    )

    new = make_email(
        sender=f"Ann Customer <{customer.address}>",
        to=desk.address,
        subject="Printer broken",
        message_id="ann-1@customer.test",
    )
    mail_servers.append(desk, new)
    kept = ingest(mailbox, mail_servers.read_mailbox(desk)[1])
    assert kept.outcome == "excluded" and kept.ticket is None
    assert Message.objects.get(message_id="ann-1@customer.test").excluded

    report = send_due()
    assert report.sent == 1, report
    [answer] = _mail_in(mail_servers, customer, 1)
    assert answer["Subject"] == "Not here: Printer broken"
    assert answer["In-Reply-To"] == "<ann-1@customer.test>"
    assert answer["Auto-Submitted"] == "auto-replied"
    body = answer.get_body(preferencelist=("plain",))
    assert body is not None and "Dear Ann, please use our portal." in body.get_content()

    reply = make_email(
        sender=customer.address,
        to=desk.address,
        subject="Re: Old question",
        in_reply_to="ann-old@customer.test",
    )
    mail_servers.append(desk, reply)
    joined = ingest(mailbox, mail_servers.read_mailbox(desk)[2])
    assert joined.ticket is not None and joined.ticket.pk == earlier.ticket.pk
    assert Ticket.objects.count() == 1


def test_a_new_sender_confirms_by_replying_to_the_mail_they_got(
    mail_servers: MailServers, settings: Any
) -> None:
    settings.CA_FILE = mail_servers.cafile
    settings.DESKMAIL_PUBLIC_URL = "https://desk.example.com"
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
        tickets={"confirm_new_senders": True, "queue": "Support"},
        replies={"auto_acknowledge": True},
    )
    mailbox.outbound_secret = desk.password
    mailbox.save()
    first = make_email(
        sender=f"Ann Customer <{customer.address}>",
        to=desk.address,
        subject="Printer broken",
        message_id="ann-1@customer.test",
    )
    mail_servers.append(desk, first)
    held = ingest(mailbox, mail_servers.read_mailbox(desk)[0])
    assert held.ticket is not None
    assert Ticket.objects.get(pk=held.ticket.pk).confirmation == "awaiting"

    assert send_due().sent == 1
    [asked] = _mail_in(mail_servers, customer, 1)
    assert asked["Subject"] == f"Please confirm: [SUP#{held.ticket.number}] Printer broken"
    assert asked["In-Reply-To"] == "<ann-1@customer.test>"
    body = asked.get_body(preferencelist=("plain",))
    assert body is not None and "https://desk.example.com/confirm/" in body.get_content()

    reply = make_email(
        sender=f"Ann Customer <{customer.address}>",
        to=desk.address,
        subject=f"Re: {asked['Subject']}",
        in_reply_to=asked["Message-ID"].strip("<>"),
        references=["ann-1@customer.test", asked["Message-ID"].strip("<>")],
    )
    mail_servers.append(desk, reply)
    confirmed = ingest(mailbox, mail_servers.read_mailbox(desk)[1])

    ticket = Ticket.objects.get(pk=held.ticket.pk)
    assert confirmed.ticket is not None and confirmed.ticket.pk == ticket.pk
    assert ticket.confirmation == "" and ticket.queue is not None
    assert ticket.queue.name == "Support"
    assert send_due().sent == 1  # the acknowledgement, now that the ticket is open
    acknowledged = _mail_in(mail_servers, customer, 2)[1]
    assert f"[SUP#{ticket.number}]" in acknowledged["Subject"]
