"""Several workers at once (PostgreSQL): nothing twice, no update lost."""

import threading

import pytest
from django.db import connection, connections

from deskmail.ingest.api import ingest
from deskmail.testing.builders import make_email, make_mailbox, message_id_of
from deskmail.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite admits one writer at a time; the race needs PostgreSQL")


def in_parallel(*jobs):
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_it_stores_one_message_when_two_mailboxes_ingest_it_at_once():
    support = make_mailbox()
    sales = make_mailbox("sales", "SAL", "sales@example.com")
    for _ in range(5):
        raw = make_email(cc="sales@example.com")
        results = in_parallel(
            lambda raw=raw: ingest(support, raw), lambda raw=raw: ingest(sales, raw)
        )
        assert sorted(r.outcome for r in results) == ["duplicate", "new_ticket"]
    assert Message.objects.count() == 5 and Ticket.objects.count() == 5


def test_it_loses_no_participant_when_replies_arrive_at_once():
    support = make_mailbox()
    first = make_email()
    ticket = ingest(support, first).ticket
    replies = [
        make_email(
            sender=f"person{n}@acme.example",
            subject="Re: Printer broken",
            in_reply_to=message_id_of(first),
        )
        for n in range(4)
    ]
    in_parallel(*[lambda raw=raw: ingest(support, raw) for raw in replies])
    participants = Ticket.objects.get(pk=ticket.pk).participants
    assert sorted(participants) == sorted(
        ["ann@acme.example", *(f"person{n}@acme.example" for n in range(4))]
    )
