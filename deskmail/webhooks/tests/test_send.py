"""Sending deliveries to a local receiver: signed, in order per ticket, retried, given up,
an endpoint that keeps failing disabled, a receiver back after an outage served in full."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging

import pytest
from django.utils import timezone

from deskmail.services import actions, webhooks
from deskmail.services.access import SYSTEM
from deskmail.testing.webhook_receiver import WebhookReceiver
from deskmail.tickets.models import InternalNote
from deskmail.webhooks import signing, transport
from deskmail.webhooks.models import Attempt, Delivery, Endpoint
from deskmail.webhooks.send import deliver_due
from deskmail.webhooks.tests.helpers import SECRET, endpoint, ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def _by_ticket(bodies: list[dict]) -> dict[int, list[str]]:
    """What each ticket's receiver saw, in arrival order: the event and its subject or note."""
    notes = {note.pk: note.body for note in InternalNote.objects.all()}
    seen: dict[int, list[str]] = {}
    for body in bodies:
        data = body["data"]
        what = notes[data["note"]] if "note" in data else data.get("subject")
        seen.setdefault(body["ticket"]["number"], []).append(f"{body['event']}:{what}")
    return seen


def test_it_signs_each_delivery_over_timestamp_and_body(team, receiver):
    endpoint(receiver.url)
    created = ticket(team.north)

    report = deliver_due()

    assert (report.made, report.delivered, report.failed) == (2, 2, 0)
    for got in receiver.received:
        headers = got.headers
        assert signing.verify(
            SECRET, headers[signing.TIMESTAMP], got.body, headers[signing.SIGNATURE]
        )
        assert headers["Content-Type"] == "application/json"
        row = Delivery.objects.get(delivery_id=headers[signing.DELIVERY])
        assert headers[signing.EVENT] == row.kind == got.json()["event"]
    first = receiver.received[0].json()
    assert first["event"] == "ticket.created" and first["ticket"]["number"] == created.number
    assert first["mailbox"]["name"] == "north"


def test_it_retries_the_same_delivery_after_a_failure(team, receiver):
    target = endpoint(receiver.url)
    ticket(team.north)
    receiver.failing = 503
    start = timezone.now()

    failed = deliver_due(now=start)
    receiver.failing = None
    too_early = deliver_due(now=start + dt.timedelta(seconds=5))
    later = deliver_due(now=start + dt.timedelta(minutes=2))

    assert (failed.failed, too_early.delivered, later.delivered) == (1, 0, 2)
    first = target.deliveries.order_by("id").first()
    attempts = list(Attempt.objects.filter(delivery=first).order_by("id"))
    assert [(a.ok, a.status_code, a.response) for a in attempts] == [
        (False, 503, "down for maintenance"),
        (True, 200, "ok"),
    ]
    assert "503" in attempts[0].error
    ids = [got.headers[signing.DELIVERY] for got in receiver.received]
    assert ids[0] == str(first.delivery_id)


def test_it_keeps_each_tickets_events_in_order_around_a_failing_one(team, receiver):
    endpoint(receiver.url, events=["note.created"])
    first, second = ticket(team.north, subject="One"), ticket(team.north, subject="Two")
    nora = team.actor(team.nora)
    actions.note(nora, first, "a1")
    actions.note(nora, second, "b1")
    actions.note(nora, first, "a2")
    start = timezone.now()
    receiver.failing = 400  # refused: a1 keeps its own backoff when the endpoint recovers

    deliver_due(now=start)  # a1 fails, the endpoint pauses
    receiver.failing = None
    deliver_due(now=start + dt.timedelta(seconds=11))  # a1 backs off; b1 goes, a2 waits
    assert _by_ticket(receiver.bodies()) == {second.number: ["note.created:b1"]}

    deliver_due(now=start + dt.timedelta(minutes=1))

    assert _by_ticket(receiver.bodies()) == {
        second.number: ["note.created:b1"],
        first.number: ["note.created:a1", "note.created:a2"],
    }


def test_every_event_arrives_once_in_order_after_the_receiver_was_down(team, receiver):
    endpoint(receiver.url)
    nora = team.actor(team.nora)
    receiver.stop()
    start = timezone.now()
    tickets = [ticket(team.north, subject=f"Case {n}") for n in range(3)]
    for round_ in range(4):
        for each in tickets:
            actions.note(nora, each, f"note {round_}")
        # The worker keeps trying while the receiver is down.
        report = deliver_due(now=start + dt.timedelta(minutes=10 * round_))
        assert report.delivered == 0 and report.failed <= 1
    logged = list(Delivery.objects.order_by("id"))
    assert len(logged) == 3 * 2 + 3 * 4 and all(d.status == "pending" for d in logged)

    receiver.start()
    deliver_due(now=start + dt.timedelta(hours=1))

    bodies = receiver.bodies()
    assert sorted(b["event_id"] for b in bodies) == sorted(d.event_id for d in logged)
    assert len({got.headers[signing.DELIVERY] for got in receiver.received}) == len(logged)
    expected = ["ticket.created:Case {n}", "message.received:Case {n}"] + [
        f"note.created:note {r}" for r in range(4)
    ]
    assert _by_ticket(bodies) == {
        each.number: [e.format(n=n) for e in expected] for n, each in enumerate(tickets)
    }
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_it_gives_up_after_a_day_and_disables_an_endpoint_that_keeps_failing(
    team, receiver, caplog
):
    target = endpoint(receiver.url)
    ticket(team.north)
    receiver.failing = 500
    start = timezone.now()

    deliver_due(now=start)
    report = deliver_due(now=start + dt.timedelta(days=1, minutes=1))

    target.refresh_from_db()
    assert report.given_up == 1 and report.disabled == [target.pk]
    assert target.status == Endpoint.Status.DISABLED
    assert "disabled after failing since" in target.disabled_reason
    assert "500" in target.disabled_reason
    assert any(r.levelno == logging.ERROR and "disabled" in r.getMessage() for r in caplog.records)
    statuses = list(target.deliveries.order_by("id").values_list("status", flat=True))
    assert statuses == ["failed", "pending"]  # the rest waits for the endpoint to come back

    receiver.failing = None
    webhooks.update(SYSTEM, target.pk, webhooks.Change(enabled=True))
    deliver_due(now=start + dt.timedelta(days=1, minutes=2))
    assert [b["event"] for b in receiver.bodies()] == ["message.received"]


def test_it_checks_the_address_a_public_looking_name_resolves_to(team, receiver):
    """The URL passed registration; at send time its name resolves to loopback: refused."""
    url = f"http://hooks.example.com:{receiver.port}/in"
    refused = endpoint(url, allow_private_addresses=False)
    ticket(team.north)
    to_loopback = functools.partial(transport.post, lookup=lambda host, port: ["127.0.0.1"])

    report = deliver_due(post=to_loopback)

    assert report.failed == 1 and receiver.received == []
    delivery = refused.deliveries.order_by("id").first()
    assert "127.0.0.1 is a loopback address" in delivery.last_error

    webhooks.update(SYSTEM, refused.pk, webhooks.Change(allow_private_addresses=True))
    deliver_due(now=timezone.now() + dt.timedelta(minutes=1), post=to_loopback)
    assert len(receiver.received) == 2


def test_it_can_send_a_delivery_again(team, receiver):
    target = endpoint(receiver.url, events=["ticket.created"])
    ticket(team.north)
    deliver_due()
    delivery = target.deliveries.get()

    webhooks.redeliver(SYSTEM, target.pk, str(delivery.delivery_id))
    deliver_due()

    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body
    assert json.loads(receiver.received[1].body)["event"] == "ticket.created"
