import datetime as dt

import pytest
from django.utils import timezone

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.testing.builders import make_email, message_id_of
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def closed_ticket(mailbox, status="closed", hours_ago=1):
    first = make_email(subject="Printer broken")
    result = ingest(mailbox, first)
    when = timezone.now() - dt.timedelta(hours=hours_ago)
    Ticket.objects.filter(pk=result.ticket.pk).update(
        status=status, closed_at=when, resolved_at=when, status_changed_at=when
    )
    reply = make_email(subject="Re: Printer broken", in_reply_to=message_id_of(first))
    return result.ticket, reply


def test_it_reopens_a_closed_ticket_on_reply(support):
    ticket, reply = closed_ticket(support)
    result = ingest(support, reply)
    assert (result.outcome, result.ticket.pk) == ("appended", ticket.pk)
    assert Ticket.objects.get(pk=ticket.pk).status == "open"


def test_it_reopens_a_resolved_ticket_on_reply(support):
    ticket, reply = closed_ticket(support, status="resolved")
    ingest(support, reply)
    assert Ticket.objects.get(pk=ticket.pk).status == "open"


def test_it_opens_a_linked_ticket_when_the_policy_says_new_ticket(support):
    configure(support, threading={"reply_to_closed": "new_ticket"})
    ticket, reply = closed_ticket(support)
    result = ingest(support, reply)
    assert result.outcome == "new_ticket"
    assert result.ticket.linked_from_id == ticket.pk
    assert Ticket.objects.get(pk=ticket.pk).status == "closed"


def test_it_opens_a_linked_ticket_for_a_reply_long_after_closing(support):
    configure(support, threading={"new_ticket_after_closed_hours": 24})
    old, old_reply = closed_ticket(support, hours_ago=48)
    recent, recent_reply = closed_ticket(support, hours_ago=2)
    late = ingest(support, old_reply)
    soon = ingest(support, recent_reply)
    assert late.outcome == "new_ticket" and late.ticket.linked_from_id == old.pk
    assert (soon.outcome, soon.ticket.pk) == ("appended", recent.pk)


def test_it_moves_a_pending_ticket_back_to_open_when_the_customer_replies(support):
    first = make_email()
    a = ingest(support, first)
    Ticket.objects.filter(pk=a.ticket.pk).update(status="pending")
    ingest(support, make_email(subject="Re: x", in_reply_to=message_id_of(first)))
    assert Ticket.objects.get(pk=a.ticket.pk).status == "open"
