"""Handing over: transfers that wait to be accepted, snooze, the team's load, notification
settings, and the live stream's contents."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deskmail.console.tests.conftest import World, north_mail
from deskmail.events import log
from deskmail.ingest.api import ingest
from deskmail.services import handover, live, reading
from deskmail.testing.builders import make_email
from deskmail.tickets.models import InternalNote, ReadMark, Ticket, Transfer

pytestmark = pytest.mark.django_db


def _configure(world: World, **console) -> None:
    config = dict(world.team.north.config)
    config["console"] = {**config.get("console", {}), **console}
    world.team.north.config = config
    world.team.north.save()


def _activity(ticket: Ticket) -> list[str]:
    return list(
        ticket.notes.filter(kind=InternalNote.Kind.ACTIVITY)
        .order_by("id")
        .values_list("body", flat=True)
    )


def test_a_transfer_waits_for_the_agent_then_the_queue_then_comes_back_unread(world: World):
    _configure(world, wait_for_agent_minutes=5, wait_for_queue_minutes=10)
    sam = world.client(world.team.sam)
    reading.mark_read(world.team.actor(world.team.nora), world.ticket)

    sam.post(
        f"/t/{world.ticket.number}/transfer/",
        {"to_user": world.team.nora.pk, "to_queue": "Billing"},
    )

    world.ticket.refresh_from_db()
    assert world.ticket.assignee == world.team.nora and world.ticket.queue.name == "Billing"
    transfer = Transfer.objects.get()
    assert transfer.state == "waiting_agent"
    assert (
        "waiting 5 minutes for them to accept, then to queue Billing" in _activity(world.ticket)[-1]
    )

    handover.housekeeping(transfer.due_at + dt.timedelta(seconds=1))
    transfer.refresh_from_db()
    world.ticket.refresh_from_db()
    assert transfer.state == "waiting_queue" and world.ticket.assignee is None
    assert "waits in queue Billing for 10 minutes" in _activity(world.ticket)[-1]

    handover.housekeeping(transfer.due_at + dt.timedelta(seconds=1))
    transfer.refresh_from_db()
    assert transfer.state == "returned"
    assert not ReadMark.objects.filter(ticket=world.ticket).exists()
    assert "back, unassigned and unread" in _activity(world.ticket)[-1]


def test_the_receiving_agent_accepts_a_transfer(world: World):
    sam = world.client(world.team.sam)
    sam.post(f"/t/{world.ticket.number}/transfer/", {"to_user": world.team.nora.pk})
    nora = world.client(world.team.nora)
    assert "Accept the transfer" in nora.get(f"/t/{world.ticket.number}/").content.decode()

    nora.post(f"/t/{world.ticket.number}/accept/")

    assert Transfer.objects.get().state == "accepted"
    handover.housekeeping(timezone.now() + dt.timedelta(days=1))
    world.ticket.refresh_from_db()
    assert world.ticket.assignee == world.team.nora


def test_a_transfer_only_to_someone_of_the_team(world: World):
    response = world.client(world.team.sam).post(
        f"/t/{world.ticket.number}/transfer/", {"to_user": world.team.stan.pk}
    )

    assert response.status_code == 200 and b"form" in response.content
    assert not Transfer.objects.exists()


def test_snooze_hides_the_ticket_until_its_time_or_until_the_customer_writes(world: World):
    nora = world.client(world.team.nora)
    nora.post(f"/t/{world.ticket.number}/snooze/", {"when": "week"})

    world.ticket.refresh_from_db()
    assert world.ticket.status == "pending" and world.ticket.snoozed_until is not None
    open_numbers = nora.get("/tickets/?view=open").content.decode()
    assert f'name="tickets" value="{world.ticket.number}"' not in open_numbers
    assert (
        f'name="tickets" value="{world.ticket.number}"'
        in nora.get("/tickets/?view=snoozed").content.decode()
    )

    first = world.message.message_id
    ingest(
        world.team.north,
        make_email(
            to=world.team.north.address,
            subject="Re: Invoice",
            in_reply_to=first,
            references=[first],
        ),
    )

    assert (
        f'name="tickets" value="{world.ticket.number}"'
        in nora.get("/tickets/?view=open").content.decode()
    )
    handover.housekeeping()
    world.ticket.refresh_from_db()
    assert world.ticket.snoozed_until is None and world.ticket.status == "open"
    assert "the customer wrote again" in _activity(world.ticket)[-1]


def test_a_snooze_ends_at_its_time(world: World):
    nora = world.client(world.team.nora)
    nora.post(f"/t/{world.ticket.number}/snooze/", {"when": "1h"})

    handover.housekeeping(timezone.now() + dt.timedelta(hours=2))

    world.ticket.refresh_from_db()
    assert (
        world.ticket.snoozed_until is None and "its snooze time came" in _activity(world.ticket)[-1]
    )


def test_supervisors_see_their_agents_load_agents_do_not(world: World):
    other = north_mail(world.team, subject="Second")
    nora_actor = world.team.actor(world.team.nora)
    from deskmail.services import actions

    actions.assign(nora_actor, world.ticket, world.team.nora.pk)
    actions.assign(nora_actor, other, world.team.nora.pk)

    page = world.client(world.team.sam).get("/team/").content.decode()
    assert "nora@helpdesk.example</a></td><td>2</td>" in page
    assert "stan@helpdesk.example" not in page
    assert world.client(world.team.nora).get("/team/").status_code == 404


def test_a_supervisor_changes_the_new_mail_notifications_of_their_mailbox(world: World):
    sam = world.client(world.team.sam)
    box = world.team.north.pk
    response = sam.post(
        "/settings/notifications/",
        {
            "mailbox": "north",
            f"box-{box}-notify_shake": "on",
            f"box-{box}-notify_template": "{sender} wrote to {queue}: {subject}",
        },
    )
    assert response.status_code == 302
    world.team.north.refresh_from_db()
    console = world.team.north.settings.console
    assert console.notify_shake and not console.notify_sound
    assert console.notify_template == "{sender} wrote to {queue}: {subject}"

    refused = sam.post(
        "/settings/notifications/",
        {"mailbox": "north", f"box-{box}-notify_template": "{password}"},
    )
    assert b"unknown variable {password}" in refused.content
    assert world.client(world.team.nora).get("/settings/notifications/").status_code == 404


def test_the_live_stream_carries_only_what_the_person_may_see(world: World):
    cursor = log.latest()
    north_mail(world.team, subject="Fresh north mail", sender="Zoe <zoe@acme.example>")
    ingest(world.team.south, make_email(to=world.team.south.address, subject="South mail"))

    nora = live.visible(world.team.actor(world.team.nora), cursor)
    stan = live.visible(world.team.actor(world.team.stan), cursor)
    ada = live.visible(world.team.actor(world.team.ada), cursor)

    assert {e["mailbox"] for e in nora} == {world.team.north.pk}
    assert {e["mailbox"] for e in stan} == {world.team.south.pk}
    assert len(ada) == len(nora) + len(stan)
    received = next(e for e in nora if e["kind"] == "message.received")
    assert received["new_mail"] and received["notify"]["text"] == (
        "New mail from zoe@acme.example in north: Fresh north mail"
    )


def test_a_mention_notifies_the_colleague_named(world: World):
    cursor = log.latest()
    world.client(world.team.nora).post(f"/t/{world.ticket.number}/note/", {"body": "@sam look"})

    sam_events = live.visible(world.team.actor(world.team.sam), cursor)
    nora_events = live.visible(world.team.actor(world.team.nora), cursor)

    assert sam_events[0]["notify"]["text"].endswith(f"mentioned you on #{world.ticket.number}")
    assert "notify" not in nora_events[0]


def test_the_stream_answers_a_visitor_with_401():
    from django.test import Client

    response = Client().get("/events/", headers={"Accept": "text/event-stream"})

    assert response.status_code == 401
