"""Acknowledgements: composed by the pipeline through the outbox, only when the rules allow."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import AUTO_ACK_PER_HOUR, compose_auto_ack, queue_auto_ack
from deskmail.outbound.tests.helpers import built, customer_ticket, support_mailbox, text_of

pytestmark = pytest.mark.django_db

ACK = {"auto_acknowledge": True}


def _ack_of(ticket) -> OutboxItem:
    return OutboxItem.objects.get(ticket=ticket, kind=OutboxItem.Kind.AUTO_ACK)


def test_it_composes_the_pipelines_acknowledgement_as_automatic_mail() -> None:
    mailbox = support_mailbox(replies=ACK)
    ticket, first = customer_ticket(mailbox, message_id="m1@acme.example")
    item = _ack_of(ticket)

    assert item.status == OutboxItem.Status.PENDING and item.outgoing is not None
    msg = built(item)
    assert msg["Message-ID"] == f"<{item.message_id}>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] == "auto_reply"
    assert msg["X-Loop"] == "support@example.com"
    assert msg["To"] == "ann@acme.example"
    assert msg["In-Reply-To"] == "<m1@acme.example>"
    assert msg["Subject"] == f"Re: [SUP#{ticket.number}] Printer broken"
    assert f"ticket {ticket.number}" in text_of(msg)


def test_it_does_not_acknowledge_mailing_list_mail() -> None:
    mailbox = support_mailbox(replies=ACK)
    ticket, _ = customer_ticket(mailbox, headers={"List-Id": "<users.lists.acme.example>"})
    item = _ack_of(ticket)

    assert item.status == OutboxItem.Status.SKIPPED
    assert "List-Id" in item.last_error
    assert item.outgoing is None


@pytest.mark.parametrize(
    "headers", [{"Precedence": "bulk"}, {"Auto-Submitted": "auto-replied"}], ids=str
)
def test_it_does_not_acknowledge_automatic_mail_kept_on_a_ticket(headers) -> None:
    mailbox = support_mailbox(replies=ACK, filters={"exclude_auto_replies": False})
    ticket, _ = customer_ticket(mailbox, headers=headers)
    item = queue_auto_ack(ticket)

    assert item.status == OutboxItem.Status.SKIPPED
    assert "auto-reply" in item.last_error


def test_it_acknowledges_a_contact_once_per_ticket() -> None:
    mailbox = support_mailbox(replies=ACK)
    ticket, _ = customer_ticket(mailbox)
    assert _ack_of(ticket).status == OutboxItem.Status.PENDING

    again = queue_auto_ack(ticket)

    assert again.status == OutboxItem.Status.SKIPPED
    assert "already acknowledged" in again.last_error


def test_it_limits_acknowledgements_per_sender_per_hour() -> None:
    mailbox = support_mailbox(replies=ACK)
    statuses = []
    for n in range(AUTO_ACK_PER_HOUR + 1):
        ticket, _ = customer_ticket(mailbox, subject=f"Problem {n}")
        statuses.append(_ack_of(ticket).status)

    assert statuses == [OutboxItem.Status.PENDING] * AUTO_ACK_PER_HOUR + ["skipped"]
    assert "rate limit" in OutboxItem.objects.filter(status="skipped").get().last_error
    ticket, _ = customer_ticket(mailbox, subject="Still within the hour")
    assert _ack_of(ticket).status == OutboxItem.Status.SKIPPED
    later = timezone.now() + dt.timedelta(hours=1, minutes=1)
    item = OutboxItem.objects.create(kind=OutboxItem.Kind.AUTO_ACK, ticket=ticket)
    assert compose_auto_ack(item, later)


def test_it_never_acknowledges_our_own_address() -> None:
    mailbox = support_mailbox(replies=ACK)
    ticket, _ = customer_ticket(mailbox)
    ticket.reply_to = "help@example.com"  # an alias of ours
    ticket.save()

    item = queue_auto_ack(ticket)

    assert item.status == OutboxItem.Status.SKIPPED
    assert "our own addresses" in item.last_error
