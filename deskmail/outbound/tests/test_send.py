"""Sending through real Postfix into real Dovecot mailboxes, read back over IMAP."""

from __future__ import annotations

import datetime as dt
import email
import io
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from deskmail.ingest.api import ingest
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import queue_reply
from deskmail.outbound.send import SENDING_TIMEOUT, send_due, send_one
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.waiting import eventually
from deskmail.tickets.models import InternalNote, Ticket

pytestmark = [pytest.mark.servers, pytest.mark.django_db]


def wait_for_mail(
    servers: MailServers, account: MailAccount, count: int, folder: str = "INBOX"
) -> list[EmailMessage]:
    """The folder's messages once at least count are there (Postfix delivers on its own time)."""
    deadline = time.monotonic() + 60
    while True:
        raws = servers.read_mailbox(account, folder)
        if len(raws) >= count or time.monotonic() > deadline:
            return [email.message_from_bytes(r, policy=policy.default) for r in raws]
        time.sleep(0.1)


def helpdesk(
    servers: MailServers, account: MailAccount, *, port: str = "submission", **config
) -> Mailbox:
    """A mailbox on the account: IMAP in, SMTP out through Postfix with login and TLS."""
    security = {"submission": "starttls", "smtps": "ssl", "smtp": "none"}[port]
    mailbox = make_mailbox(
        "support",
        "SUP",
        account.address,
        display_name="Example Support",
        inbound={
            "protocol": "imap",
            "host": servers.host,
            "port": servers.ports["imap"],
            "security": "none",
            "username": account.address,
        },
        outbound={
            "host": servers.host,
            "port": servers.ports[port],
            "security": security,
            "username": account.address if port != "smtp" else None,
            **config.pop("outbound", {}),
        },
        **config,
    )
    mailbox.inbound_secret = account.password
    mailbox.outbound_secret = account.password
    mailbox.save()
    return mailbox


@pytest.fixture
def ca_file(settings, mail_servers: MailServers) -> str:
    settings.CA_FILE = mail_servers.cafile
    return mail_servers.cafile


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_delivers_a_reply_that_threads_and_brings_the_answer_back(
    mail_servers: MailServers, ca_file: str, tmp_path: Path
) -> None:
    desk, customer, colleague = (mail_servers.new_account() for _ in range(3))
    mailbox = helpdesk(mail_servers, desk)
    first = make_email(
        sender=f"Ann Customer <{customer.address}>",
        to=desk.address,
        cc=colleague.address,
        subject="Printer broken",
        message_id="m1@customer.test",
    )
    mail_servers.append(desk, first)
    ticket = ingest(mailbox, mail_servers.read_mailbox(desk)[0]).ticket
    body = tmp_path / "reply.txt"
    body.write_text("Hello Ann,\n\nwe replaced the fuser.\n")

    _run("reply", str(ticket.number), "--body-file", str(body))
    report = send_due()

    assert report.sent == 1, report.errors
    (got,) = wait_for_mail(mail_servers, customer, 1)
    item = OutboxItem.objects.get()
    assert got["Message-ID"] == f"<{item.message_id}>"
    assert got["In-Reply-To"] == "<m1@customer.test>"
    assert got["References"] == "<m1@customer.test>"
    assert got["Subject"] == f"Re: [SUP#{ticket.number}] Printer broken"
    assert got["From"] == f"Example Support <{desk.address}>"
    assert got["To"] == customer.address
    assert got["Cc"] == colleague.address
    assert got["X-Loop"] == desk.address
    assert "we replaced the fuser." in got.get_body(("plain",)).get_content()
    assert len(wait_for_mail(mail_servers, colleague, 1)) == 1

    answer = make_email(
        sender=customer.address,
        to=desk.address,
        subject=f"Re: {got['Subject']}",
        in_reply_to=item.message_id,
        references=["m1@customer.test", item.message_id],
        body="Works again, thanks!",
    )
    result = ingest(mailbox, answer)

    assert result.outcome == "appended"
    assert result.ticket.pk == ticket.pk


def test_it_delivers_each_reply_exactly_once_after_the_server_was_down(
    mail_servers: MailServers, ca_file: str
) -> None:
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk)
    ticket = ingest(
        mailbox, make_email(sender=customer.address, to=desk.address, subject="Many answers")
    ).ticket
    mail_servers.stop_postfix()
    try:
        queued = [queue_reply(ticket, body_text=f"Answer {n}") for n in range(200)]

        down = send_due(limit=500)

        assert (down.sent, down.deferred) == (0, 200)
        assert set(OutboxItem.objects.values_list("status", "attempts")) == {("pending", 1)}
        assert "Connecting to SMTP server" in OutboxItem.objects.first().last_error
        assert send_due(limit=500).sent == 0  # not due yet: backing off
    finally:
        mail_servers.start_postfix()

    later = timezone.now() + dt.timedelta(hours=1)
    up = send_due(later, limit=500)
    again = send_due(later + dt.timedelta(hours=1), limit=500)

    assert (up.sent, up.deferred, again.sent) == (200, 0, 0)
    wait_for_mail(mail_servers, customer, 200)
    # Anything extra that Postfix still holds must arrive before counting.
    eventually(mail_servers.postfix_queue_empty, 60, "Postfix's queue drained")
    delivered = wait_for_mail(mail_servers, customer, 200)
    counts: dict[str, int] = {}
    for msg in delivered:
        counts[msg["Message-ID"]] = counts.get(msg["Message-ID"], 0) + 1
    assert counts == {f"<{item.message_id}>": 1 for item in queued}


def test_it_fails_a_refused_reply_at_once_and_says_so_on_the_ticket(
    mail_servers: MailServers, ca_file: str
) -> None:
    desk = mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk, port="smtp")  # no login: no relaying elsewhere
    ticket = ingest(
        mailbox, make_email(sender="ann@nowhere.example", to=desk.address, subject="Hi")
    ).ticket
    item = queue_reply(ticket, body_text="Hello.")

    report = send_due()

    item.refresh_from_db()
    assert (report.failed, item.status, item.attempts) == (1, "failed", 1)
    assert "554" in item.last_error and "Relay access denied" in item.last_error
    note = InternalNote.objects.get(ticket=ticket)
    assert note.kind == InternalNote.Kind.DELIVERY_FAILURE
    assert "Relay access denied" in note.body and "ann@nowhere.example" in note.body


def test_it_sends_over_implicit_tls_and_keeps_a_copy_in_sent(
    mail_servers: MailServers, ca_file: str
) -> None:
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk, port="smtps", outbound={"save_to_sent": "Sent"})
    ticket = ingest(
        mailbox, make_email(sender=customer.address, to=desk.address, subject="Copy")
    ).ticket
    item = queue_reply(ticket, body_text="Kept.")

    report = send_one(item)

    assert report.sent == 1, report.errors
    assert item.status == "sent" and item.saved_to_sent
    (copy,) = wait_for_mail(mail_servers, desk, 1, folder="Sent")
    assert copy["Message-ID"] == f"<{item.message_id}>"
    assert mail_servers.flags(desk, "Sent") and "\\Seen" in next(
        iter(mail_servers.flags(desk, "Sent").values())
    )
    assert len(wait_for_mail(mail_servers, customer, 1)) == 1


def test_it_marks_a_stuck_reply_found_in_sent_as_sent_instead_of_sending_it_again(
    mail_servers: MailServers, ca_file: str
) -> None:
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk, outbound={"save_to_sent": "Sent"})
    ticket = ingest(
        mailbox, make_email(sender=customer.address, to=desk.address, subject="Crash")
    ).ticket
    sent, lost = (queue_reply(ticket, body_text=t) for t in ("went out", "never went"))
    assert send_one(sent).sent == 1
    # Both rows look as a worker that died in the middle of SMTP leaves them.
    long_ago = timezone.now() - SENDING_TIMEOUT - dt.timedelta(minutes=1)
    OutboxItem.objects.update(status="sending", claimed_at=long_ago, claimed_by="dead")

    report = send_due()

    assert (report.recovered, report.sent) == (2, 1)
    sent.refresh_from_db()
    lost.refresh_from_db()
    assert (sent.status, lost.status) == ("sent", "sent")
    delivered = wait_for_mail(mail_servers, customer, 2)
    assert sorted(m["Message-ID"] for m in delivered) == sorted(
        f"<{i.message_id}>" for i in (sent, lost)
    )


def test_it_sends_the_pipelines_acknowledgement(mail_servers: MailServers, ca_file: str) -> None:
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk, replies={"auto_acknowledge": True})
    ticket = ingest(
        mailbox, make_email(sender=customer.address, to=desk.address, subject="New one")
    ).ticket

    report = send_due()

    assert report.sent == 1, report.errors
    (ack,) = wait_for_mail(mail_servers, customer, 1)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Message-ID"] == f"<{OutboxItem.objects.get(ticket=ticket).message_id}>"
    assert Ticket.objects.get(pk=ticket.pk).messages.count() == 2


def test_it_keeps_mail_while_the_login_is_refused_and_sends_it_with_a_valid_token(
    mail_servers: MailServers, ca_file: str
) -> None:
    desk, customer = mail_servers.new_account(), mail_servers.new_account()
    mailbox = helpdesk(mail_servers, desk, outbound={"auth": "oauth2"})
    mailbox.outbound_secret = "expired-token"
    mailbox.save()
    ticket = ingest(
        mailbox, make_email(sender=customer.address, to=desk.address, subject="Token")
    ).ticket
    item = queue_reply(ticket, body_text="Sent with a token.")

    refused = send_one(item)
    assert (refused.deferred, item.status) == (1, "pending")
    assert "Reauthorize the mailbox" in item.last_error
    mailbox.outbound_secret = mail_servers.issue_token(desk.address)
    mailbox.save()
    OutboxItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
    report = send_due()

    assert report.sent == 1, report.errors
    assert len(wait_for_mail(mail_servers, customer, 1)) == 1
