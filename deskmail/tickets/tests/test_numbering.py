import threading

import pytest
from django.db import connection, connections

from deskmail.ingest.api import ingest
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.tickets.models import Counter


@pytest.mark.django_db
def test_it_numbers_tickets_from_one_in_arrival_order():
    support = make_mailbox()
    sales = make_mailbox("sales", "SAL", "sales@example.com")
    numbers = [
        ingest(box, make_email(subject=f"n{n}", to=box.address)).ticket.number
        for n, box in enumerate([support, sales, support])
    ]
    assert numbers == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_it_hands_out_each_number_once_under_concurrency():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    got: list[int] = []
    lock = threading.Lock()

    def worker():
        try:
            for _ in range(25):
                value = Counter.next("test")
                with lock:
                    got.append(value)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == list(range(1, 101))


@pytest.mark.django_db
def test_it_numbers_batches_and_single_mail_in_one_sequence():
    from deskmail.ingest.api import ingest_many

    support = make_mailbox()
    first = ingest_many(support, [make_email(subject=f"a{n}") for n in range(3)], batch_size=2)
    single = ingest(support, make_email(subject="b"))
    second = ingest_many(support, [make_email(subject=f"c{n}") for n in range(2)])
    numbers = [r.ticket.number for r in [*first, single, *second]]
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert Counter.objects.get(name="ticket").value == 6


def test_it_keeps_status_timestamps():
    import datetime as dt

    from deskmail.tickets.models import Ticket

    at = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    ticket = Ticket(status="open")
    assert ticket.set_status("resolved", at)
    assert (ticket.resolved_at, ticket.status_changed_at) == (at, at)
    assert not ticket.set_status("resolved", at + dt.timedelta(hours=1))
    assert ticket.set_status("closed", at + dt.timedelta(hours=2))
    assert ticket.closed_at == at + dt.timedelta(hours=2)
