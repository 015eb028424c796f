"""Many rows in few statements: every kind of column a batch writes, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deskmail.core.bulk import (
    ROWS_PER_STATEMENT,
    insert_rows,
    reserve_keys,
    update_rows,
)
from deskmail.testing.builders import make_mailbox
from deskmail.tickets.models import Contact, Delivery, Message, Queue, Ticket

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


# What COPY's text format escapes, and what SQL quoting escapes.
AWKWARD = "tab\there, back\\slash, \\N, new\nline\r\n, quote ' \" and 🙂"


def _messages(mailbox, ticket: Ticket, prefix: str) -> list[Message]:
    return [
        Message(
            ticket=ticket if n else None,
            mailbox=mailbox,
            message_id=f"{prefix}{n}@example.com",
            subject=f"{AWKWARD} {n}",
            from_address="ann@example.com",
            body_text=AWKWARD * 50,
            body_html=f"<p>{AWKWARD}</p>",
            headers={"Subject": [AWKWARD], "X-Empty": []},
            references=[f"parent{n}@example.com"],
            trace=[{"step": "parse", "verdict": "pass", "data": {"n": n, "none": None}}],
            date=WHEN if n else None,
            auto_submitted=bool(n % 2),
            raw_size=n,
            received_at=WHEN,
        )
        for n in range(3)
    ]


def test_inserted_rows_are_stored_as_bulk_create_stores_them_and_numbered_in_order():
    (ticket,) = _tickets(1)
    copied = _messages(ticket.mailbox, ticket, "copied")
    created = Message.objects.bulk_create(_messages(ticket.mailbox, ticket, "created"))

    insert_rows(copied)

    assert all(not m._state.adding for m in copied)
    assert [m.pk for m in copied] == sorted(m.pk for m in copied)
    deliveries = [Delivery(message=m, mailbox=ticket.mailbox, raw_sha256="a" * 64) for m in copied]
    insert_rows(deliveries)
    assert [d.message_id for d in Delivery.objects.order_by("pk")] == [m.pk for m in copied]

    def stored(messages: list[Message]) -> list[dict]:
        rows = Message.objects.filter(pk__in=[m.pk for m in messages]).order_by("pk").values()
        return [{k: v for k, v in row.items() if k not in ("id", "message_id")} for row in rows]

    assert stored(copied) == stored(created)
    assert stored(copied)[1]["subject"] == f"{AWKWARD} 1"
    assert stored(copied)[2]["headers"] == {"Subject": [AWKWARD], "X-Empty": []}


def test_keys_taken_ahead_are_new_and_never_taken_again():
    first = Contact.objects.create(address="first@example.com")

    keys = reserve_keys(Contact, 3)
    after = Contact.objects.create(address="after@example.com")

    assert keys == list(range(keys[0], keys[0] + 3)) and keys[0] > first.pk
    assert after.pk > keys[-1]
    insert_rows([Contact(pk=key, address=f"c{key}@example.com") for key in keys])
    assert set(Contact.objects.values_list("pk", flat=True)) == {first.pk, *keys, after.pk}


def test_keys_are_taken_ahead_for_a_table_never_written_to():
    (key,) = reserve_keys(Queue, 1)

    assert Queue.objects.create(name="next").pk > key >= 1
