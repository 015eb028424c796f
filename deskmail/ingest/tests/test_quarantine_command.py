"""`deskmail quarantine list|retry`."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

from deskmail.ingest.models import QuarantinedMessage
from deskmail.ingest.tests.test_import_helpers import mail, make_mailboxes, run
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.blobs import store_raw
from deskmail.tickets.models import Message

pytestmark = pytest.mark.django_db


def _quarantined(mailbox: Mailbox, raw: bytes, error: str, attempts: int = 1) -> QuarantinedMessage:
    """A message as the pipeline leaves it when a step failed: raw stored, error kept."""
    return QuarantinedMessage.objects.create(
        raw_sha256=store_raw(raw),
        mailbox=mailbox,
        source={"kind": "import", "folder": "/archive/support.mbox", "uid": "7"},
        history=True,
        error=error,
        attempts=attempts,
    )


def test_it_lists_what_waits_in_quarantine() -> None:
    support = make_mailboxes()
    first = _quarantined(support, mail(1, "A"), "OperationalError: database is locked\nTraceback")
    second = _quarantined(
        Mailbox.objects.get(name="sales"), mail(2, "B"), "ValueError: bad charset", attempts=3
    )

    output = run("quarantine", "list")

    lines = output.splitlines()
    assert lines[0].split() == ["ID", "WHEN", "MAILBOX", "STATUS", "TRIES", "ERROR"]
    assert lines[1].split()[:1] == [str(first.id)]
    assert "support" in lines[1] and "OperationalError: database is locked" in lines[1]
    assert "Traceback" not in output
    assert lines[2].split()[0] == str(second.id)
    assert "sales" in lines[2] and lines[2].split()[4] == "3"


def test_it_lists_as_json_and_hides_resolved_items_unless_asked() -> None:
    support = make_mailboxes()
    waiting = _quarantined(support, mail(1, "A"), "boom")
    done = _quarantined(support, mail(2, "B"), "boom")
    done.status = QuarantinedMessage.Status.RESOLVED
    done.save()

    shown = json.loads(run("quarantine", "list", "--json"))
    everything = json.loads(run("quarantine", "list", "--json", "--all"))

    assert [row["id"] for row in shown] == [waiting.id]
    assert [row["id"] for row in everything] == [waiting.id, done.id]
    assert set(shown[0]) >= {"id", "when", "mailbox", "error", "attempts"}


def test_it_says_when_nothing_waits() -> None:
    make_mailboxes()

    assert run("quarantine", "list").strip() == "Nothing in quarantine."


def test_it_retries_one_item_into_a_ticket() -> None:
    support = make_mailboxes()
    item = _quarantined(support, mail(1, "Printer on fire"), "OperationalError: locked")
    other = _quarantined(support, mail(2, "Other"), "OperationalError: locked")

    output = run("quarantine", "retry", str(item.id))

    item.refresh_from_db()
    other.refresh_from_db()
    assert item.status == QuarantinedMessage.Status.RESOLVED
    assert other.status == QuarantinedMessage.Status.PENDING
    assert Message.objects.get(message_id="n1@customer.example").ticket is not None
    assert not Message.objects.filter(message_id="n2@customer.example").exists()
    assert f"{item.id}: new ticket" in output


def test_it_retries_everything_waiting() -> None:
    support = make_mailboxes()
    items = [_quarantined(support, mail(n, f"Subject {n}"), "boom") for n in (1, 2, 3)]

    output = run("quarantine", "retry", "--all")

    assert "3 stored" in output
    assert set(QuarantinedMessage.objects.values_list("status", flat=True)) == {"resolved"}
    assert Message.objects.filter(ticket__isnull=False).count() == len(items)
    assert json.loads(run("quarantine", "list", "--json")) == []


def test_it_refuses_an_unknown_id_or_no_choice() -> None:
    make_mailboxes()

    with pytest.raises(CommandError, match="no quarantined message with ID 999"):
        run("quarantine", "retry", "999")
    with pytest.raises(CommandError, match="either quarantine IDs or --all"):
        run("quarantine", "retry")


def test_it_reports_an_item_that_fails_again_and_counts_the_attempt() -> None:
    support = make_mailboxes()
    # Its raw bytes are gone from storage, so the retry cannot succeed.
    lost = QuarantinedMessage.objects.create(
        raw_sha256="0" * 64, mailbox=support, error="boom", history=True
    )

    with pytest.raises(CommandError, match="no quarantined message could be stored"):
        run("quarantine", "retry", str(lost.id))

    lost.refresh_from_db()
    assert lost.status == QuarantinedMessage.Status.PENDING
    assert lost.attempts == 2
    assert "FileNotFoundError" in json.loads(run("quarantine", "list", "--json"))[0]["error"]
