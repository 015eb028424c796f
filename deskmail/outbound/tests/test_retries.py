"""Retries and backoff against an SMTP port that refuses connections (nothing listens on 9)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deskmail.connectors.base import Refused
from deskmail.connectors.errors import ConnectorError
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import queue_reply
from deskmail.outbound.send import MAX_ATTEMPTS, backoff, retry, send_due, send_one
from deskmail.outbound.tests.helpers import customer_ticket, support_mailbox
from deskmail.tickets.models import InternalNote

pytestmark = pytest.mark.django_db


def test_it_backs_off_exponentially_up_to_a_ceiling() -> None:
    waits = [backoff(n) for n in (1, 2, 3, 4, 20)]

    assert waits[:4] == [dt.timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert waits[4] == dt.timedelta(hours=4)


def test_it_defers_a_reply_when_the_server_refuses_the_connection() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="Hi")
    now = timezone.now()

    first = send_due(now)
    item.refresh_from_db()
    too_early = send_due(now + backoff(1) - dt.timedelta(seconds=1))
    second = send_due(now + backoff(1))

    assert (first.deferred, too_early.deferred, second.deferred) == (1, 0, 1)
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("pending", 2)
    assert item.next_attempt_at == now + backoff(1) + backoff(2)
    assert "Connection refused" in item.last_error
    assert not InternalNote.objects.exists()


def test_it_fails_a_reply_after_the_last_attempt_and_notes_it_on_the_ticket() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="Hi")
    OutboxItem.objects.filter(pk=item.pk).update(attempts=MAX_ATTEMPTS - 1)

    report = send_due()

    item.refresh_from_db()
    assert (report.failed, item.status, item.attempts) == (1, "failed", MAX_ATTEMPTS)
    note = InternalNote.objects.get(ticket=ticket)
    assert note.kind == "delivery_failure" and note.message_id == item.outgoing_id
    assert "The reply to ann@acme.example could not be sent" in note.body
    assert "Connection refused" in note.body


def test_it_claims_a_row_only_once() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="Hi")
    OutboxItem.objects.filter(pk=item.pk).update(status="sending", claimed_by="another-worker")

    report = send_one(item)

    item.refresh_from_db()
    assert (report.sent, report.deferred, item.attempts) == (0, 0, 0)
    assert (item.status, item.claimed_by) == ("sending", "another-worker")


def test_it_sends_a_stuck_row_again_after_the_timeout() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="Hi")
    now = timezone.now()
    OutboxItem.objects.filter(pk=item.pk).update(
        status="sending", claimed_by="dead", claimed_at=now - dt.timedelta(minutes=5), attempts=1
    )

    assert send_due(now).recovered == 0  # a worker may still be talking to the server
    report = send_due(now + dt.timedelta(minutes=11))

    item.refresh_from_db()
    assert (report.recovered, report.deferred, item.attempts) == (1, 1, 2)
    assert item.message_id == OutboxItem.objects.get(pk=item.pk).message_id


def test_it_fails_mail_of_a_mailbox_that_can_no_longer_send() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="Hi")
    mailbox.config = {**mailbox.config, "purpose": "receive"}
    mailbox.save()

    report = send_due()

    item.refresh_from_db()
    assert (report.failed, item.status) == (1, "failed")
    assert "only receives" in item.last_error


def test_retry_puts_a_failed_row_back_in_line() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="Hi")
    OutboxItem.objects.filter(pk=item.pk).update(status="sent")

    assert not retry(item)
    OutboxItem.objects.filter(pk=item.pk).update(status="failed", attempts=MAX_ATTEMPTS)
    assert retry(item)
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("pending", 0)


def test_it_drains_a_backlog_in_batches_within_one_call() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    for n in range(5):
        queue_reply(ticket, body_text=f"Reply {n}")

    report = send_due(limit=2)

    assert report.deferred == 5
    assert set(OutboxItem.objects.values_list("attempts", flat=True)) == {1}


class _Throttled:
    """A sender whose service asks for a pause, as Graph does with 429 and Retry-After."""

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, envelope_from: str, recipients: list[str], raw: bytes) -> Refused:
        raise ConnectorError("Graph throttled sendMail", permanent=False, retry_after=90)


def test_it_waits_as_a_throttling_server_asks_without_using_up_the_attempts() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="Hi")

    for _ in range(MAX_ATTEMPTS + 3):
        report = send_one(item, factory=lambda mailbox: _Throttled())
        assert report.deferred == 1

    item.refresh_from_db()
    assert (item.status, item.attempts) == ("pending", 0)
    assert item.next_attempt_at >= timezone.now() + dt.timedelta(seconds=80)
    assert "throttled" in item.last_error
