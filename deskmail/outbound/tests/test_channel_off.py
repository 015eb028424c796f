"""The outbox while the email channel is off, through real Postfix into real Dovecot: what
agents write is queued and not sent; switched on, it is sent, once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from deskmail.ingest.api import ingest
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.send import send_due, send_one
from deskmail.outbound.tests.test_send import ca_file, helpdesk, wait_for_mail
from deskmail.services import actions, channel
from deskmail.services.access import SYSTEM
from deskmail.testing.builders import make_email
from deskmail.testing.mailservers import MailServers

pytestmark = [pytest.mark.servers, pytest.mark.django_db]
__all__ = ["ca_file"]  # the fixture, used by name


def test_mail_written_while_off_waits_untouched_and_goes_out_once_when_on(
    mail_servers: MailServers, ca_file: str
) -> None:
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk)
    ticket = ingest(
        mailbox, make_email(sender=customer.address, to=desk.address, subject="Heating")
    ).ticket
    channel.switch(SYSTEM, False, "moving the mail server")

    item = actions.reply(SYSTEM, ticket, body_text="We are on our way.")
    report = send_due()
    out = io.StringIO()
    call_command("outbox", "send", stdout=out)

    assert report.channel_off and (report.sent, report.deferred, report.failed) == (0, 0, 0)
    assert "the email channel is off" in out.getvalue()
    assert send_one(item).channel_off
    item.refresh_from_db()
    # Queued as ever, no attempt spent, nothing at the customer's.
    assert (item.status, item.attempts, item.last_error) == (OutboxItem.Status.PENDING, 0, "")
    assert mail_servers.read_mailbox(customer) == []

    channel.switch(SYSTEM, True)
    sent = send_due()
    again = send_due()

    assert (sent.sent, again.sent) == (1, 0), sent.errors
    (got,) = wait_for_mail(mail_servers, customer, 1)
    assert got["Message-ID"] == f"<{item.message_id}>"
    item.refresh_from_db()
    assert (item.status, item.attempts) == (OutboxItem.Status.SENT, 1)


def test_switched_off_while_a_backlog_drains_the_rest_waits(
    mail_servers: MailServers, ca_file: str
) -> None:
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk)
    ticket = ingest(
        mailbox, make_email(sender=customer.address, to=desk.address, subject="Many answers")
    ).ticket
    for n in range(5):
        actions.reply(SYSTEM, ticket, body_text=f"Answer {n}")
    answers = iter([True, False])  # on for the first batch, then switched off

    report = send_due(limit=2, channel_on=lambda: next(answers))

    assert report.channel_off and report.sent == 2
    assert OutboxItem.objects.filter(status=OutboxItem.Status.PENDING, attempts=0).count() == 3
    assert len(wait_for_mail(mail_servers, customer, 2)) == 2
