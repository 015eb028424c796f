"""Nothing lost: a message a step fails on is kept, and retried into a ticket later."""

import datetime as dt
import random

import pytest
from django.utils import timezone

from deskmail.ingest import pipeline, quarantine
from deskmail.ingest.api import SourcePosition, ingest
from deskmail.ingest.models import MAX_ATTEMPTS, QuarantinedMessage
from deskmail.ingest.steps import open_ticket
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.testing.builders import make_email
from deskmail.tickets.blobs import read_raw, sha256
from deskmail.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


class Explode:
    """A step that fails on mail whose subject contains "poison"."""

    name = "explode"

    def run(self, ctx):
        if "poison" in ctx.parsed.subject:
            raise RuntimeError("the step broke")
        return Decision(self.name, Verdict.PASS, "fine")


@pytest.fixture
def failing_step(monkeypatch):
    steps = list(pipeline.STEPS)
    steps.insert(steps.index(open_ticket), Explode())
    monkeypatch.setattr(pipeline, "STEPS", tuple(steps))
    return monkeypatch


def test_it_quarantines_a_message_a_step_fails_on_and_the_rest_flows_on(support, failing_step):
    poison = make_email(subject="poison pill")
    where = SourcePosition("imap", "INBOX", 3, "17")
    stored = []
    bad = ingest(support, poison, source=where, on_stored=lambda: stored.append("checkpoint"))
    good = ingest(support, make_email(subject="ordinary"))
    assert bad.outcome == "quarantined" and "the step broke" in bad.error
    assert stored == ["checkpoint"]  # the source may move on: the mail is safe
    assert good.outcome == "new_ticket"
    item = QuarantinedMessage.objects.get()
    assert read_raw(item.raw_sha256) == poison
    assert item.source == {"kind": "imap", "folder": "INBOX", "uidvalidity": 3, "uid": "17"}
    assert "RuntimeError" in item.traceback and item.status == "pending"
    assert not Message.objects.filter(raw_sha256=sha256(poison)).exists()


def test_it_retries_a_quarantined_message_into_a_ticket(support, failing_step):
    ingest(support, make_email(subject="poison pill"))
    item = QuarantinedMessage.objects.get()
    failing_step.undo()  # the bug is fixed
    result = quarantine.retry(item)
    item.refresh_from_db()
    assert result.outcome == "new_ticket"
    assert item.status == "resolved" and item.message_id == result.message.pk
    assert Ticket.objects.get().title == "poison pill"


def test_it_retries_due_items_with_backoff_and_gives_up_after_five_attempts(support, failing_step):
    ingest(support, make_email(subject="poison pill"))
    item = QuarantinedMessage.objects.get()
    assert item.next_retry_at > timezone.now()
    assert quarantine.retry_due() == []  # not due yet
    delays = []
    for _ in range(10):
        later = item.next_retry_at + dt.timedelta(seconds=1) if item.next_retry_at else None
        if later is None:
            break
        before = item.next_retry_at
        quarantine.retry_due(now=later)
        item.refresh_from_db()
        if item.next_retry_at:
            delays.append(item.next_retry_at - before)
    assert item.status == "failed" and item.attempts == MAX_ATTEMPTS
    assert delays == sorted(delays) and delays[0] < delays[-1]
    assert not Ticket.objects.exists()


def test_it_keeps_one_quarantine_row_for_the_same_mail_failing_again(support, failing_step):
    raw = make_email(subject="poison pill")
    ingest(support, raw)
    ingest(support, raw)
    item = QuarantinedMessage.objects.get()
    assert item.attempts == 2


def test_trace_shows_a_quarantined_message_by_its_message_id(support, failing_step):
    from io import StringIO

    from django.core.management import call_command

    from deskmail.testing.builders import message_id_of

    raw = make_email(subject="poison pill")
    ingest(support, raw)
    out = StringIO()
    call_command("trace", message_id_of(raw), stdout=out)
    assert "quarantined (pending, 1 attempts" in out.getvalue()
    assert "RuntimeError: the step broke" in out.getvalue()


@pytest.mark.parametrize(
    "raw",
    [b"", random.Random(3).randbytes(600), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"],
    ids=["empty", "random bytes", "a PDF"],
)
def test_it_keeps_bytes_that_are_not_an_email_in_the_quarantine_and_opens_no_ticket(support, raw):
    result = ingest(support, raw)

    assert result.outcome == "quarantined" and "not an email" in result.error
    assert not Ticket.objects.exists() and not Message.objects.exists()
    item = QuarantinedMessage.objects.get()
    assert read_raw(item.raw_sha256) == raw
    assert item.status == "failed" and item.next_retry_at is None  # a retry cannot help
    assert "it starts with" in item.error


@pytest.mark.parametrize(
    "raw",
    [b"From: ann@acme.example\r\nSubject: headers only\r\n", b"Subject: no body\r\n\r\n"],
)
def test_it_makes_a_ticket_of_an_email_without_a_body(support, raw):
    assert ingest(support, raw).outcome == "new_ticket"
