"""One UPDATE for many rows: every kind of column the batch writes, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deskmail.core.bulk import ROWS_PER_STATEMENT, update_rows
from deskmail.testing.builders import make_mailbox
from deskmail.tickets.models import Queue, Ticket

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
FIELDS = ["status", "status_changed_at", "participants", "custom_fields", "queue", "assignee"]


def _tickets(count: int) -> list[Ticket]:
    mailbox = make_mailbox()
    return [
        Ticket.objects.create(number=n, mailbox=mailbox, title=f"t{n}", first_mail_at=WHEN)
        for n in range(1, count + 1)
    ]


def _row(ticket: Ticket) -> tuple:
    fresh = Ticket.objects.get(pk=ticket.pk)
    return tuple(getattr(fresh, name) for name in [*FIELDS, "title"])


def test_it_writes_each_rows_own_values_of_every_kind():
    one, two, three = _tickets(3)
    bob = User.objects.create(username="bob", email="bob@example.com")
    billing = Queue.objects.create(name="Billing")
    two.queue, two.assignee = billing, bob
    two.save()
    one.status, one.status_changed_at = "open", WHEN
    one.participants = ["o'brien@example.com", "zoë@example.com"]
    one.custom_fields = {"order": "A-1", "nested": {"n": 1, "quote": 'say "hi"'}}
    one.queue, one.assignee = billing, bob
    one.title = "not written: not among the fields"
    two.status, two.queue, two.assignee = "pending", None, None  # foreign keys emptied
    two.custom_fields = {}

    with CaptureQueriesContext(connection) as queries:
        assert update_rows([one, two], FIELDS) == 2

    assert len(queries) == 1
    assert _row(one) == (
        "open",
        WHEN,
        ["o'brien@example.com", "zoë@example.com"],
        {"order": "A-1", "nested": {"n": 1, "quote": 'say "hi"'}},
        billing,
        bob,
        "t1",
    )
    assert _row(two) == ("pending", None, [], {}, None, None, "t2")
    assert _row(three) == ("new", None, [], {}, None, None, "t3")  # not in the list


def test_it_splits_many_rows_over_a_few_statements():
    tickets = _tickets(ROWS_PER_STATEMENT + 3)
    for ticket in tickets:
        ticket.participants = [f"p{ticket.number}@example.com"]

    with CaptureQueriesContext(connection) as queries:
        assert update_rows(tickets, ["participants"]) == len(tickets)

    assert len(queries) == 2
    stored = dict(Ticket.objects.values_list("number", "participants"))
    assert stored == {t.number: [f"p{t.number}@example.com"] for t in tickets}


def test_nothing_to_write_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert update_rows([], FIELDS) == 0
    assert not queries
