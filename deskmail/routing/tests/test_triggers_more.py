"""Triggers on the clock and on custom fields, and triggers that set status and fields,
through the real pipeline (one message at a time, and a batch import)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deskmail.ingest.api import ingest, ingest_batch
from deskmail.ingest.engine import IngestItem
from deskmail.mailboxes import loading
from deskmail.routing.tests.test_pipeline import agents, new_mail, route, said, trace_text
from deskmail.services import access, actions
from deskmail.testing.builders import message_id_of
from deskmail.tickets.models import InternalNote, Ticket

pytestmark = pytest.mark.django_db

NIGHT = {
    "name": "Night shift",
    "if": {"time_of_day": ["22:00-24:00", "00:00-06:00"], "weekdays": ["saturday", "sunday"]},
    "then": {"priority": "urgent", "fields": {"shift": "night"}},
}


def _at(monkeypatch, when: dt.datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: when)


def test_a_weekend_night_trigger_follows_the_mailbox_time_zone(desk, monkeypatch):
    route(desk, triggers=[NIGHT])
    # Saturday 2026-03-28 23:30 in Berlin (UTC+1) is 22:30 UTC.
    _at(monkeypatch, dt.datetime(2026, 3, 28, 22, 30, tzinfo=dt.UTC))
    night = ingest(desk, new_mail(subject="Night"))
    # Saturday 12:00 in Berlin: the weekday holds, the time does not.
    _at(monkeypatch, dt.datetime(2026, 3, 28, 11, 0, tzinfo=dt.UTC))
    noon = ingest(desk, new_mail(subject="Noon"))
    # Monday 2026-03-30 01:00 in Berlin, after the change to summer time (UTC+2).
    _at(monkeypatch, dt.datetime(2026, 3, 29, 23, 0, tzinfo=dt.UTC))
    monday = ingest(desk, new_mail(subject="Monday"))

    ticket = Ticket.objects.get(pk=night.ticket.pk)
    assert (ticket.priority, ticket.custom_fields) == ("urgent", {"shift": "night"})
    assert said(night, "triggers", "matched", "priority urgent, fields shift=night")
    assert Ticket.objects.get(pk=noon.ticket.pk).priority == "normal"
    assert "12:00 Europe/Berlin is not in 22:00-24:00, 00:00-06:00" in trace_text(noon)
    assert Ticket.objects.get(pk=monday.ticket.pk).priority == "normal"
    assert "Monday is not saturday or sunday" in trace_text(monday)


def test_a_trigger_reads_a_custom_field_and_sets_the_status(desk):
    route(
        desk,
        triggers=[
            {
                "name": "Contract ended",
                "when": "customer_replied",
                "if": {"fields": {"contract": "Ended"}},
                "then": {"status": "pending", "fields": {"contract": None, "renewal": True}},
            }
        ],
    )
    first = new_mail(sender="vera@vip.example")
    created = ingest(desk, first)
    other = ingest(desk, new_mail(sender="otto@vip.example", subject="Other"))
    Ticket.objects.filter(pk__in=[created.ticket.pk, other.ticket.pk]).update(status="open")
    Ticket.objects.filter(pk=created.ticket.pk).update(custom_fields={"contract": "ended"})

    reply = ingest(
        desk,
        new_mail(sender="vera@vip.example", subject="Re: x", in_reply_to=message_id_of(first)),
    )
    ingest(desk, new_mail(sender="otto@vip.example", subject="Re: Other"))

    ticket = Ticket.objects.get(pk=created.ticket.pk)
    assert (ticket.status, ticket.custom_fields) == ("pending", {"renewal": True})
    assert said(reply, "triggers", "matched", "status pending, fields contract=None, renewal=True")
    assert Ticket.objects.get(pk=other.ticket.pk).custom_fields == {}


def test_a_batch_import_keeps_what_triggers_set_on_replies(desk):
    route(
        desk,
        triggers=[
            {
                "name": "Reopened",
                "when": "customer_replied",
                "if": {"sender_domain": ["vip.example"]},
                "then": {"type": "Escalation", "fields": {"escalated": "yes"}},
            }
        ],
    )
    first = new_mail(sender="vera@vip.example")
    reply = new_mail(sender="vera@vip.example", subject="Re: x", in_reply_to=message_id_of(first))

    results = ingest_batch(desk, [IngestItem(first), IngestItem(reply)], history=False)

    ticket = Ticket.objects.get(pk=results[0].ticket.pk)
    assert ticket.type is not None and ticket.type.name == "Escalation"
    assert ticket.custom_fields == {"escalated": "yes"}


def test_a_wrong_time_range_is_refused_at_load(desk):
    data = {
        **desk.config,
        "routing": {"triggers": [{**NIGHT, "if": {"time_of_day": ["25:00-26:00"]}}]},
    }
    with pytest.raises(loading.LoadRefused, match=r"routing\.triggers\[0\]\.if\.time_of_day"):
        loading.check_one(data)


REFUND = {
    "name": "Refund promised",
    "when": "agent_replied",
    "if": {"body_contains": ["refund approved"]},
    "then": {
        "status": "pending",
        "tags": ["refund"],
        "note": "Check the refund arrived in 3 days.",
        "auto_reply": "after_hours",
    },
}


def test_a_trigger_on_an_agents_reply_changes_the_ticket_and_says_so(desk):
    route(desk, triggers=[REFUND])
    (bob,) = agents("bob")
    created = ingest(desk, new_mail(subject="Refund?"))
    ticket = Ticket.objects.get(pk=created.ticket.pk)

    actions.reply(access.actor_for(bob), ticket, body_text="We will look into it.")
    untouched = Ticket.objects.get(pk=ticket.pk)
    assert untouched.status != "pending"
    assert not InternalNote.objects.filter(ticket=ticket, kind="activity").exists()

    actions.reply(access.actor_for(bob), untouched, body_text="Your refund approved today.")

    after = Ticket.objects.get(pk=ticket.pk)
    assert after.status == "pending"
    assert list(after.tags.values_list("name", flat=True)) == ["refund"]
    notes = InternalNote.objects.filter(ticket=ticket)
    activity = notes.get(kind="activity").body
    assert "trigger 'Refund promised' matched (agent_replied): status pending, tags refund" in (
        activity
    )
    # The automatic answer would go to our own address: refused, and said why.
    assert "no auto-reply 'after_hours'" in activity and "our own addresses" in activity
    assert notes.filter(kind="note", body="Check the refund arrived in 3 days.").count() == 1
