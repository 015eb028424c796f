"""`deskmail reply` and `deskmail outbox`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from deskmail.outbound.models import OutboxItem
from deskmail.outbound.send import send_due
from deskmail.outbound.tests.helpers import built, customer_ticket, support_mailbox, text_of

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_reply_queues_the_body_with_attachments_and_chosen_recipients(tmp_path: Path) -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox, cc="boss@acme.example")
    body = tmp_path / "reply.txt"
    body.write_text("See the attached manual.\n")
    manual = tmp_path / "manual.pdf"
    manual.write_bytes(b"%PDF-1.4 manual")

    printed = run(
        "reply", str(ticket.number), "--body-file", str(body), "--attach", str(manual),
        "--to", "dora@acme.example", "--cc", "eve@acme.example", "--cc", "support@example.com",
    )  # fmt: skip

    item = OutboxItem.objects.get()
    msg = built(item)
    assert f"Queued outbox #{item.pk} for ticket #{ticket.number}" in printed
    assert (msg["To"], msg["Cc"]) == ("dora@acme.example", "eve@acme.example")
    assert "See the attached manual." in text_of(msg)
    (attached,) = msg.iter_attachments()
    assert attached.get_filename() == "manual.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == b"%PDF-1.4 manual"


def test_reply_suggests_the_recipients_and_drops_the_cc_on_request(tmp_path: Path) -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox, cc="boss@acme.example")
    body = tmp_path / "reply.html"
    body.write_text("<p>Done <b>now</b>.</p><script>alert(1)</script>")

    run("reply", str(ticket.number), "--body-file", str(body))
    run("reply", str(ticket.number), "--body-file", str(body), "--no-cc")

    first, second = (built(item) for item in OutboxItem.objects.order_by("id"))
    assert (first["To"], first["Cc"], second["Cc"]) == (
        "ann@acme.example",
        "boss@acme.example",
        None,
    )
    html = first.get_body(("html",)).get_content()
    assert "<b>now</b>" in html and "<script>" not in html


def test_reply_says_why_it_refuses(tmp_path: Path) -> None:
    mailbox = support_mailbox(purpose="receive")
    ticket, _ = customer_ticket(mailbox)
    body = tmp_path / "reply.txt"
    body.write_text("Hi")

    with pytest.raises(CommandError, match="only receives"):
        run("reply", str(ticket.number), "--body-file", str(body))
    with pytest.raises(CommandError, match="no ticket #999"):
        run("reply", "999", "--body-file", str(body))


def test_outbox_lists_waiting_and_failed_mail_and_retries_it(tmp_path: Path) -> None:
    mailbox = support_mailbox()  # its SMTP server is unreachable (port 9)
    ticket, _ = customer_ticket(mailbox)
    body = tmp_path / "reply.txt"
    body.write_text("Hi")
    run("reply", str(ticket.number), "--body-file", str(body))
    item = OutboxItem.objects.get()
    assert send_due().deferred == 1
    OutboxItem.objects.filter(pk=item.pk).update(status="failed")

    listed = json.loads(run("outbox", "--json"))
    printed = run("outbox")
    retried = run("outbox", "retry", str(item.pk))

    assert [(r["id"], r["status"], r["attempts"]) for r in listed] == [(item.pk, "failed", 1)]
    assert "Connecting to SMTP server 127.0.0.1:9" in listed[0]["last_error"]
    assert f"#{item.pk}" in printed and "failed" in printed and "ann@acme.example" in printed
    assert f"outbox #{item.pk} will be sent again" in retried
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("pending", 0)
    with pytest.raises(CommandError, match="no outbox row"):
        run("outbox", "retry", "12345")
