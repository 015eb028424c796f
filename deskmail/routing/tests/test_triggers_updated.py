"""Triggers on a change a person makes (`when: updated`), and triggers that tell the
webhooks (`webhook: true`), through the services the console and the API call."""

from __future__ import annotations

import pytest

from deskmail.events.models import Event
from deskmail.ingest.api import ingest, ingest_batch
from deskmail.ingest.engine import IngestItem
from deskmail.outbound.models import OutboxItem
from deskmail.routing.tests.test_pipeline import agents, new_mail, route, said
from deskmail.services import access, actions, fields, ticket_fields
from deskmail.services import webhooks as webhook_admin
from deskmail.services.access import SYSTEM
from deskmail.tickets.models import InternalNote, Ticket
from deskmail.webhooks.fanout import fan_out
from deskmail.webhooks.models import Delivery

pytestmark = pytest.mark.django_db

ESCALATE = {
    "name": "Urgent goes to VIP",
    "when": "updated",
    "if": {"priority": ["urgent"]},
    "then": {
        "queue": "VIP",
        "tags": ["escalated"],
        "note": "Escalated: call the customer today.",
        "webhook": True,
        "auto_reply": "after_hours",
    },
}


def _ticket(desk, subject: str = "Printer on fire") -> Ticket:
    return Ticket.objects.get(pk=ingest(desk, new_mail(subject=subject)).ticket.pk)


def _events(ticket: Ticket, kind: str) -> list[Event]:
    return list(Event.objects.filter(ticket_id=ticket.pk, kind=kind))


def test_a_change_of_several_fields_at_once_runs_the_updated_triggers_once(desk):
    route(desk, triggers=[ESCALATE])
    (bob,) = agents("bob")
    ticket = _ticket(desk)
    assert not _events(ticket, Event.Kind.TRIGGER_MATCHED)

    change = ticket_fields.Change(status="open", priority="urgent", tags=["printer"])
    ticket_fields.update(access.actor_for(bob), ticket, change)

    after = Ticket.objects.get(pk=ticket.pk)
    assert (after.priority, after.queue.name) == ("urgent", "VIP")
    assert set(after.tags.values_list("name", flat=True)) == {"printer", "escalated"}
    activity = InternalNote.objects.get(ticket=ticket, kind="activity").body
    assert "trigger 'Urgent goes to VIP' matched (updated): queue VIP, tags escalated" in activity
    assert "a note, webhook" in activity
    assert InternalNote.objects.filter(ticket=ticket, kind="note").count() == 1
    # The customer hears once, through the outbox, like any automatic answer.
    answers = OutboxItem.objects.filter(ticket=ticket, kind=OutboxItem.Kind.AUTO_REPLY)
    assert [a.recipient for a in answers] == ["ann@acme.example"]
    (told,) = _events(ticket, Event.Kind.TRIGGER_MATCHED)
    assert told.data["trigger"] == "Urgent goes to VIP"
    assert (told.data["event"], told.data["queue"]) == ("updated", "VIP")


def test_what_a_trigger_changes_starts_no_other_round(desk):
    # Each trigger's change would match the other's condition: no loop, each runs once.
    route(
        desk,
        triggers=[
            {
                "name": "Urgent is pending",
                "when": "updated",
                "if": {"priority": ["urgent"]},
                "then": {"status": "pending", "note": "one"},
            },
            {
                "name": "Pending is urgent",
                "when": "updated",
                "if": {"status": ["pending"]},
                "then": {"priority": "urgent", "note": "two"},
            },
        ],
    )
    (bob,) = agents("bob")
    ticket = _ticket(desk)

    fields.set_priority(access.actor_for(bob), ticket, "urgent")

    after = Ticket.objects.get(pk=ticket.pk)
    assert (after.priority, after.status) == ("urgent", "pending")
    notes = InternalNote.objects.filter(ticket=ticket, kind="note")
    assert sorted(notes.values_list("body", flat=True)) == ["one", "two"]
    # One more change by a person is one more round, not an endless one.
    fields.set_title(access.actor_for(bob), after, "Printer still on fire")
    assert InternalNote.objects.filter(ticket=ticket, kind="note").count() == 4


def test_a_change_that_does_not_match_says_nothing_and_a_deleted_ticket_runs_none(desk):
    route(desk, triggers=[ESCALATE])
    (bob,) = agents("bob")
    ticket = _ticket(desk)
    actor = access.actor_for(bob)

    fields.set_priority(actor, ticket, "high")
    assert Ticket.objects.get(pk=ticket.pk).queue is None
    assert not InternalNote.objects.filter(ticket=ticket).exists()

    fields.set_priority(actor, ticket, "urgent")
    assert len(_events(ticket, Event.Kind.TRIGGER_MATCHED)) == 1
    actions.delete(actor, ticket)
    assert len(Event.objects.filter(kind=Event.Kind.TRIGGER_MATCHED)) == 1


def test_a_trigger_on_new_mail_tells_the_webhooks_after_the_ticket_is_news(desk):
    route(
        desk,
        triggers=[
            {"name": "Outage", "if": {"subject_contains": ["outage"]}, "then": {"webhook": True}}
        ],
    )
    endpoint, _secret = webhook_admin.create(
        SYSTEM,
        "https://hooks.example.net/deskmail",
        events=["trigger.matched"],
        mailboxes=["support"],
    )

    outage = ingest(desk, new_mail(subject="Total outage since 9:00"))
    calm = ingest(desk, new_mail(subject="A question"))
    fan_out()

    assert said(outage, "triggers", "matched", "trigger 'Outage' matched (created): webhook")
    kinds = list(
        Event.objects.filter(ticket_id=outage.ticket.pk).order_by("id").values_list("kind")
    )
    assert [k for (k,) in kinds] == ["ticket.created", "message.received", "trigger.matched"]
    assert not _events(calm.ticket, Event.Kind.TRIGGER_MATCHED)
    (delivery,) = Delivery.objects.filter(endpoint=endpoint)
    assert delivery.kind == "trigger.matched"
    assert delivery.body["ticket"]["number"] == outage.ticket.number
    assert delivery.body["data"]["trigger"] == "Outage"


def test_history_imports_never_tell_the_webhooks(desk):
    route(
        desk,
        triggers=[{"name": "Every mail", "then": {"webhook": True, "tags": ["seen"]}}],
    )
    raw = new_mail(subject="Old outage")
    ingest_batch(desk, [IngestItem(raw)], history=True)

    ticket = Ticket.objects.get(title="Old outage")
    assert list(ticket.tags.values_list("name", flat=True)) == ["seen"]
    assert not Event.objects.filter(kind=Event.Kind.TRIGGER_MATCHED).exists()
