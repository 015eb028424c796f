"""A task mail through real Postfix into a real Dovecot mailbox, and its answer back."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.send import send_due
from deskmail.outbound.tests.test_send import helpdesk, wait_for_mail
from deskmail.services import tasks
from deskmail.services.access import SYSTEM
from deskmail.tasks.models import TaskEntry
from deskmail.testing.builders import make_email
from deskmail.testing.mailservers import MailServers

pytestmark = [pytest.mark.servers, pytest.mark.django_db]


@pytest.fixture
def ca_file(settings, mail_servers: MailServers) -> str:
    settings.CA_FILE = mail_servers.cafile
    return mail_servers.cafile


def test_the_task_mail_reaches_the_assignee_alone_and_their_answer_joins_the_task(
    mail_servers: MailServers,
    ca_file: str,
) -> None:
    desk, customer, vendor = (mail_servers.new_account() for _ in range(3))
    mailbox = helpdesk(mail_servers, desk)
    mail_servers.append(
        desk,
        make_email(
            sender=f"Ann Customer <{customer.address}>",
            to=desk.address,
            subject="Printer broken",
            body="The fuser makes a noise.",
            message_id="m1@customer.test",
        ),
    )
    ticket = ingest(mailbox, mail_servers.read_mailbox(desk)[0]).ticket
    task = tasks.create(
        SYSTEM,
        ticket,
        to=f"Vic Vendor <{vendor.address}>",
        title="Order a new fuser",
        instructions="Model FX-9, please.",
        include_customer_message=True,
    )

    report = send_due()

    assert report.sent == 1, report.errors
    (got,) = wait_for_mail(mail_servers, vendor, 1)
    assert got["Message-ID"] == f"<{task.message_id}>"
    assert got["Subject"] == f"Task on #{ticket.number}: Order a new fuser"
    assert got["From"] == f"Example Support <{desk.address}>"
    assert got["To"] == vendor.address
    assert got["In-Reply-To"] is None and got["References"] is None
    assert got["X-Loop"] == desk.address
    text = got.get_body(("plain",)).get_content()
    assert "Model FX-9, please." in text and "The fuser makes a noise." in text
    assert OutboxItem.objects.get(pk=task.outbox_item_id).status == OutboxItem.Status.SENT
    assert mail_servers.read_mailbox(customer) == []

    answer = make_email(
        sender=vendor.address,
        to=desk.address,
        subject=f"Re: {got['Subject']}",
        in_reply_to=task.message_id,
        references=[task.message_id],
        body="Ordered, it arrives on Monday.",
    )
    mail_servers.append(desk, answer)
    result = ingest(mailbox, mail_servers.read_mailbox(desk)[-1])

    assert result.outcome == "excluded"
    assert result.ticket is None
    reply = task.entries.get(kind=TaskEntry.Kind.REPLY)
    assert reply.sender == vendor.address
    assert "Ordered, it arrives on Monday." in reply.text
    assert ticket.messages.count() == 1
