"""Real servers: a customer's mail arrives in Dovecot out of hours, the mailbox's plan answers
it through Postfix into the customer's own mailbox, in their thread; the customer's
out-of-office answer to that comes back and is never answered in turn."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from deskmail.ingest.api import ingest
from deskmail.ingest.trace import render
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.send import send_due
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.waiting import eventually
from deskmail.tickets.models import Ticket

pytestmark = [pytest.mark.servers, pytest.mark.django_db]


def _mail_in(servers: MailServers, account: MailAccount, count: int) -> list[EmailMessage]:
    def arrived() -> list[bytes]:
        raws = servers.read_mailbox(account)
        return raws if len(raws) >= count else []

    raws = eventually(arrived, timeout=60, what=f"{count} mail(s) for {account.address}")
    return [email.message_from_bytes(raw, policy=policy.default) for raw in raws]  # type: ignore[misc]


def test_an_out_of_hours_mail_is_answered_once_in_the_customers_thread(
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
        filters={"exclude_auto_replies": False},
        routing={
            "time_zone": "Pacific/Auckland",
            "working_hours": {},  # closed every day: always out of hours
            "templates": [
                {
                    "name": "closed",
                    "subject": "We are closed: {{ ticket.title }}",
                    "body": "<p>Dear {{ contact.first_name }}, we answer tomorrow.</p>",
                }
            ],
            "actions": [{"hours": {"outside": [{"auto_reply": "closed"}, {"queue": "Night"}]}}],
        },
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
    result = ingest(mailbox, mail_servers.read_mailbox(desk)[0])
    assert result.ticket is not None
    ticket = Ticket.objects.get(pk=result.ticket.pk)
    assert ticket.queue is not None and ticket.queue.name == "Night"

    report = send_due()
    assert report.sent == 1, report

    [answer] = _mail_in(mail_servers, customer, 1)
    assert answer["Subject"] == f"We are closed: Printer broken [SUP#{ticket.number}]"
    assert answer["In-Reply-To"] == "<ann-1@customer.test>"
    assert answer["Auto-Submitted"] == "auto-replied"
    body = answer.get_body(preferencelist=("plain",))
    assert body is not None and "Dear Ann, we answer tomorrow." in body.get_content()

    # The customer's vacation responder answers our answer: it joins the ticket, unanswered.
    vacation = make_email(
        sender=customer.address,
        to=desk.address,
        subject=f"Automatic reply: {answer['Subject']}",
        in_reply_to=answer["Message-ID"].strip("<>"),
        headers={"Auto-Submitted": "auto-replied"},
    )
    mail_servers.append(desk, vacation)
    again = ingest(mailbox, mail_servers.read_mailbox(desk)[1])
    assert again.ticket is not None and again.ticket.pk == ticket.pk
    assert OutboxItem.objects.count() == 1
    # A new mail from the responder (no thread headers) opens a ticket, and still no answer.
    stray = make_email(
        sender=customer.address,
        to=desk.address,
        subject="Out of office",
        headers={"Auto-Submitted": "auto-replied"},
    )
    mail_servers.append(desk, stray)
    third = ingest(mailbox, mail_servers.read_mailbox(desk)[2])
    assert third.outcome == "new_ticket"
    assert OutboxItem.objects.count() == 1
    assert "no auto-reply 'closed': the mail is automatic" in render(third.message.trace)
