"""The event log turned into deliveries: one per endpoint and event, none lost, none twice."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.services import actions, webhooks
from deskmail.services.access import SYSTEM
from deskmail.webhooks.fanout import fan_out
from deskmail.webhooks.models import FanoutState
from deskmail.webhooks.tests.helpers import endpoint, ticket

URL = "https://hooks.example.com/in"


def _kinds(target) -> list[tuple[str, int | None]]:
    return [
        (d.kind, d.body["ticket"] and d.body["ticket"]["number"])
        for d in target.deliveries.order_by("id")
    ]


@pytest.mark.django_db
def test_it_makes_a_delivery_per_wanted_event_in_order(team):
    everything = endpoint(URL)
    notes_of_south = endpoint(URL, events=["note.created"], mailboxes=["south"])
    first = ticket(team.north)
    second = ticket(team.south, sender="bob@acme.example")
    actions.note(team.actor(team.stan), second, "Calling Bob.")
    actions.note(team.actor(team.nora), first, "Toner?")

    made = fan_out()

    assert made == 7
    assert _kinds(everything) == [
        ("ticket.created", first.number),
        ("message.received", first.number),
        ("ticket.created", second.number),
        ("message.received", second.number),
        ("note.created", second.number),
        ("note.created", first.number),
    ]
    assert _kinds(notes_of_south) == [("note.created", second.number)]
    body = notes_of_south.deliveries.get().body
    assert body["mailbox"] == {"id": team.south.pk, "name": "south"}
    assert body["data"]["author"] == "stan@helpdesk.example"


@pytest.mark.django_db
def test_it_sends_only_what_happens_after_an_endpoint_is_registered(team):
    ticket(team.north, subject="Before")
    fan_out()
    late = endpoint(URL)
    ticket(team.north, subject="After")

    fan_out()

    assert [d.body["data"]["subject"] for d in late.deliveries.all()] == ["After", "After"]


@pytest.mark.django_db
def test_it_makes_nothing_twice(team):
    target = endpoint(URL)
    ticket(team.north)
    fan_out()
    FanoutState.objects.update(position=0)  # as if the pass's commit had been lost

    assert fan_out() == 2  # offered again ...
    assert target.deliveries.count() == 2  # ... and refused by the unique pair


@pytest.mark.django_db
def test_a_disabled_endpoint_gets_nothing_new(team):
    target = endpoint(URL)
    webhooks.update(SYSTEM, target.pk, webhooks.Change(enabled=False))
    ticket(team.north)

    fan_out()

    assert target.deliveries.count() == 0


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="only PostgreSQL hands out event ids before commit (SQLite has one writer)",
)


def _hold_an_event(mailbox_id: int, commit: bool, held: threading.Event, go: threading.Event):
    def run() -> None:
        try:
            with transaction.atomic():
                Event.objects.create(kind="ticket.updated", mailbox_id=mailbox_id, data={"n": 1})
                emit("note.created", mailbox_id=mailbox_id, n=1)
                held.set()
                go.wait(30)
                if not commit:
                    transaction.set_rollback(True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_it_waits_for_an_event_whose_transaction_still_runs(team):
    target = endpoint(URL, events=["note.created"])
    fan_out()
    held, go = threading.Event(), threading.Event()
    worker = _hold_an_event(team.north.pk, True, held, go)
    assert held.wait(30)
    emit("note.created", mailbox_id=team.north.pk, n=2)  # committed, with a later id

    fan_out()
    assert target.deliveries.count() == 0  # the later one waits behind the gap

    go.set()
    worker.join(30)
    fan_out()
    assert [d.body["data"]["n"] for d in target.deliveries.order_by("id")] == [1, 2]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_it_steps_over_an_event_that_was_rolled_back(team):
    target = endpoint(URL, events=["note.created"])
    fan_out()
    held, go = threading.Event(), threading.Event()
    worker = _hold_an_event(team.north.pk, False, held, go)
    assert held.wait(30)
    emit("note.created", mailbox_id=team.north.pk, n=2)
    fan_out()
    go.set()
    worker.join(30)

    fan_out()

    assert [d.body["data"]["n"] for d in target.deliveries.all()] == [2]
