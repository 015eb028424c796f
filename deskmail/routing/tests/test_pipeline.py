"""Routing actions, triggers and distribution, through the real pipeline (`ingest`).

Working hours are made always open (every day 00:00-24:00) or always closed
(no ranges), so that no test depends on the clock.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.ingest.trace import render
from deskmail.outbound.models import OutboxItem
from deskmail.routing.models import Availability
from deskmail.services import access, handover, people
from deskmail.services.access import SYSTEM, Role
from deskmail.testing.builders import make_email, message_id_of
from deskmail.tickets.models import InternalNote, Message, Queue, Ticket, Transfer

pytestmark = pytest.mark.django_db

ALWAYS = {day: ["00:00-24:00"] for day in ("monday", "tuesday", "wednesday", "thursday")}
ALWAYS |= {day: ["00:00-24:00"] for day in ("friday", "saturday", "sunday")}
CLOSED: dict[str, list[str]] = {}
TEMPLATES = [
    {
        "name": "after_hours",
        "subject": "Closed until Monday: {{ ticket.title }}",
        "body": "<p>Hello {{ contact.first_name }}, we read ticket {{ ticket.number }} soon.</p>",
    }
]
PLAN = [
    {"queue": "Support"},
    {
        "hours": {
            "inside": [{"distribute": "round_robin"}],
            "outside": [{"auto_reply": "after_hours"}, {"queue": "After hours"}],
        }
    },
]


def route(mailbox, *, working_hours=None, **routing):
    return configure(
        mailbox,
        routing={
            "time_zone": "Europe/Berlin",
            "working_hours": ALWAYS if working_hours is None else working_hours,
            "templates": TEMPLATES,
            **routing,
        },
    )


def agents(*names: str) -> list:
    return [
        people.create_user(SYSTEM, f"{name}@example.com", Role.AGENT, mailboxes=["support"])
        for name in names
    ]


def trace_text(result) -> str:
    return render(Message.objects.get(pk=result.message.pk).trace)


def said(result, step: str, verdict: str, words: str) -> bool:
    """Whether the stored trace has this step's decision with this verdict and these words."""
    trace = Message.objects.get(pk=result.message.pk).trace
    return any(
        e["step"] == step and e["verdict"] == verdict and words in e["reason"] for e in trace
    )


def new_mail(sender: str = "Ann Customer <ann@acme.example>", **kwargs) -> bytes:
    return make_email(sender=sender, **kwargs)


# -- the routing plan --------------------------------------------------------------------------


def test_inside_hours_the_ticket_is_distributed_round_robin(desk):
    route(desk, actions=PLAN)
    alice, bob, carol = agents("alice", "bob", "carol")

    results = [ingest(desk, new_mail(subject=f"Question {n}")) for n in range(4)]

    tickets = [Ticket.objects.get(pk=r.ticket.pk) for r in results]
    assert [t.assignee for t in tickets] == [alice, bob, carol, alice]
    assert {t.queue.name for t in tickets} == {"Support"}
    text = trace_text(results[1])
    assert said(results[1], "route", "routed", "routed to queue Support")
    assert said(results[1], "route", "inside", "inside working hours (")
    assert "round robin in queue Support: bob@example.com (3 of 3 agents available)" in text
    assert not OutboxItem.objects.exists()


def test_outside_hours_it_auto_replies_in_the_thread_and_queues(desk):
    route(desk, working_hours=CLOSED, actions=PLAN)
    agents("alice")
    raw = new_mail(subject="Printer broken")

    result = ingest(desk, raw)

    ticket = Ticket.objects.get(pk=result.ticket.pk)
    assert ticket.queue.name == "After hours"
    assert ticket.assignee is None
    item = OutboxItem.objects.get()
    assert (item.kind, item.status, item.recipient) == ("auto_reply", "pending", "ann@acme.example")
    out = item.outgoing
    assert out.subject == f"Closed until Monday: Printer broken [SUP#{ticket.number}]"
    assert out.in_reply_to == message_id_of(raw)
    assert out.headers["auto-submitted"] == ["auto-replied"]
    assert f"Hello Ann, we read ticket {ticket.number} soon." in out.body_text
    text = trace_text(result)
    assert "outside working hours: closed on" in text
    assert said(result, "route", "queued", "auto-reply 'after_hours' to ann@acme.example")
    assert "routed to queue After hours" in text


def test_stop_ends_the_plan(desk):
    route(desk, actions=[{"queue": "First"}, {"stop": True}, {"queue": "Never"}])
    result = ingest(desk, new_mail())
    assert Ticket.objects.get(pk=result.ticket.pk).queue.name == "First"
    assert "stop: the routing plan ends here" in trace_text(result)


def test_route_to_an_agent_only_on_the_team(desk):
    (alice,) = agents("alice")
    people.create_user(SYSTEM, "olga@example.com", Role.AGENT)  # on no team
    route(desk, actions=[{"agent": "olga@example.com"}, {"agent": "Alice@Example.com"}])
    result = ingest(desk, new_mail())
    assert Ticket.objects.get(pk=result.ticket.pk).assignee == alice
    text = trace_text(result)
    assert "olga@example.com is no active member of mailbox support's team" in text
    assert "assigned to alice@example.com" in text


def test_replies_into_a_ticket_are_not_routed_again(desk):
    route(desk, working_hours=CLOSED, actions=PLAN)
    first = new_mail()
    ingest(desk, first)
    reply = ingest(desk, new_mail(subject="Re: Printer broken", in_reply_to=message_id_of(first)))
    assert OutboxItem.objects.count() == 1
    assert "routing applies when a ticket opens" in trace_text(reply)


# -- distribution --------------------------------------------------------------------------------


def test_round_robin_skips_paused_and_logged_out_agents_and_says_so(desk):
    route(desk, actions=[{"distribute": "round_robin"}])
    alice, bob, carol = agents("alice", "bob", "carol")
    now = timezone.now()
    Availability.objects.create(user=bob, state="paused", reason="lunch", changed_at=now)
    first = ingest(desk, new_mail(subject="One"))
    second = ingest(desk, new_mail(subject="Two"))
    assert Ticket.objects.get(pk=first.ticket.pk).assignee == alice
    assert Ticket.objects.get(pk=second.ticket.pk).assignee == carol
    assert "(2 of 3 agents available)" in trace_text(second)

    # Alice logs out, Carol pauses: nobody is left, and the ticket waits in its queue.
    Availability.objects.create(user=alice, state="logged_out", changed_at=now)
    Availability.objects.create(user=carol, state="paused", changed_at=now)
    third = ingest(desk, new_mail(subject="Three"))
    assert Ticket.objects.get(pk=third.ticket.pk).assignee is None
    assert (
        "not distributed: no agent available in mailbox support (alice@example.com logged out; "
        "bob@example.com paused (lunch); carol@example.com paused)"
    ) in trace_text(third)

    # Bob comes back: the turn goes on after Carol, wrapping round to the first available.
    Availability.objects.filter(user=bob).update(state="available")
    fourth = ingest(desk, new_mail(subject="Four"))
    assert Ticket.objects.get(pk=fourth.ticket.pk).assignee == bob


def test_least_busy_with_a_limit_of_open_tickets(desk):
    route(desk, actions=[{"distribute": {"method": "least_busy", "max_open": 2}}])
    alice, bob = agents("alice", "bob")
    results = [ingest(desk, new_mail(subject=f"Q{n}")) for n in range(5)]
    owners = [Ticket.objects.get(pk=r.ticket.pk).assignee for r in results]
    assert owners == [alice, bob, alice, bob, None]
    assert (
        "least busy in mailbox support: bob@example.com (open tickets: alice@example.com 1, "
        in (trace_text(results[1]))
    )
    assert "alice@example.com has 2 open tickets" in trace_text(results[4])
    # A resolved ticket no longer counts.
    Ticket.objects.filter(pk=results[0].ticket.pk).update(status="resolved")
    sixth = ingest(desk, new_mail(subject="Q5"))
    assert Ticket.objects.get(pk=sixth.ticket.pk).assignee == alice


# -- triggers --------------------------------------------------------------------------------------


VIP = {
    "name": "VIP domain",
    "when": ["created", "customer_replied"],
    "if": {"sender_domain": ["vip.example"]},
    "then": {"priority": "high", "queue": "VIP", "tags": ["vip"]},
}


def test_a_trigger_sets_priority_queue_and_tags(desk):
    route(desk, actions=[{"queue": "Support"}], triggers=[VIP])
    vip = ingest(desk, new_mail(sender="Vera <vera@eu.vip.example>"))
    plain = ingest(desk, new_mail())
    ticket = Ticket.objects.get(pk=vip.ticket.pk)
    assert (ticket.priority, ticket.queue.name) == ("high", "VIP")
    assert list(ticket.tags.values_list("name", flat=True)) == ["vip"]
    assert said(
        vip,
        "triggers",
        "matched",
        "trigger 'VIP domain' matched (created): priority high, queue VIP, tags vip",
    )
    other = Ticket.objects.get(pk=plain.ticket.pk)
    assert (other.priority, other.queue.name) == ("normal", "Support")
    assert "trigger 'VIP domain': sender domain acme.example is not under vip.example" in (
        trace_text(plain)
    )


def test_triggers_run_in_order_each_seeing_the_last(desk):
    triggers = [
        {
            "name": "urgent words",
            "if": {"subject_matches": r"(?i)\bdown\b"},
            "then": {"priority": "urgent"},
        },
        {"name": "urgent to ops", "if": {"priority": ["urgent"]}, "then": {"tags": ["ops"]}},
        {
            "name": "ops first line",
            "if": {"tags": ["ops"], "body_contains": ["Server"]},
            "then": {"queue": "Ops"},
        },
    ]
    route(desk, triggers=triggers)
    result = ingest(desk, new_mail(subject="Site DOWN", body="The server is down."))
    ticket = Ticket.objects.get(pk=result.ticket.pk)
    assert (ticket.priority, ticket.queue.name) == ("urgent", "Ops")
    assert list(ticket.tags.values_list("name", flat=True)) == ["ops"]
    calm = ingest(desk, new_mail(subject="Downtime window?"))
    assert "trigger 'urgent words': the subject does not match" in trace_text(calm)


def test_a_trigger_on_a_customer_reply(desk):
    route(desk, triggers=[VIP])
    first = new_mail(sender="vera@vip.example")
    created = ingest(desk, first)
    Ticket.objects.filter(pk=created.ticket.pk).update(priority="low", queue=None)
    reply = ingest(
        desk,
        new_mail(sender="vera@vip.example", subject="Re: x", in_reply_to=message_id_of(first)),
    )
    ticket = Ticket.objects.get(pk=created.ticket.pk)
    assert (ticket.priority, ticket.queue.name) == ("high", "VIP")
    assert "trigger 'VIP domain' matched (customer_replied)" in trace_text(reply)


def test_a_trigger_can_assign_and_auto_reply(desk):
    (alice,) = agents("alice")
    trigger = {
        "name": "after hours VIP",
        "if": {"sender_domain": ["vip.example"], "hours": "outside"},
        "then": {"assign": "alice@example.com", "auto_reply": "after_hours"},
    }
    route(desk, working_hours=CLOSED, triggers=[trigger])
    result = ingest(desk, new_mail(sender="vera@vip.example"))
    assert Ticket.objects.get(pk=result.ticket.pk).assignee == alice
    assert OutboxItem.objects.get().recipient == "vera@vip.example"
    assert "trigger 'after hours VIP': auto-reply 'after_hours' to vera@vip.example" in (
        trace_text(result)
    )


# -- loop safety -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "headers", "why"),
    [
        ("ann@acme.example", {"Auto-Submitted": "auto-replied"}, "the mail is automatic"),
        ("ann@acme.example", {"List-Id": "<users.lists.acme.example>"}, "mailing list"),
        ("ann@acme.example", {"Precedence": "bulk"}, "the mail is automatic"),
        ("MAILER-DAEMON@mx.acme.example", {}, "is a mail system, not a person"),
        ("ann@acme.example", {"X-Auto-Response-Suppress": "All"}, "asked for no automatic"),
        ("support@example.com", {}, "one of our own addresses"),
    ],
)
def test_automatic_mail_never_gets_an_auto_reply(desk, sender, headers, why):
    route(desk, working_hours=CLOSED, actions=PLAN)
    result = ingest(desk, new_mail(sender=sender, headers=headers))
    assert not OutboxItem.objects.exists()
    assert "no auto-reply 'after_hours': " in trace_text(result)
    assert why in trace_text(result)


def test_one_sender_gets_at_most_n_auto_replies_an_hour(desk):
    route(desk, working_hours=CLOSED, actions=PLAN, auto_replies_per_hour=2)
    results = [ingest(desk, new_mail(subject=f"Try {n}")) for n in range(3)]
    assert OutboxItem.objects.filter(kind="auto_reply").count() == 2
    assert "rate limit: ann@acme.example got 2 auto-replies in the past hour" in (
        trace_text(results[2])
    )
    # Another sender is not held back by Ann's.
    ingest(desk, new_mail(sender="bob@acme.example"))
    assert OutboxItem.objects.filter(recipient="bob@acme.example").count() == 1


def test_one_mail_gets_one_auto_reply_at_most(desk):
    trigger = {"name": "also", "if": {}, "then": {"auto_reply": "after_hours"}}
    route(desk, working_hours=CLOSED, actions=PLAN, triggers=[trigger])
    result = ingest(desk, new_mail())
    assert OutboxItem.objects.count() == 1
    assert "this mail already gets the auto-reply 'after_hours'" in trace_text(result)


def test_history_is_routed_but_neither_distributed_nor_answered(desk):
    agents("alice")
    route(
        desk,
        actions=[
            {"queue": "Support"},
            {"distribute": "round_robin"},
            {"auto_reply": "after_hours"},
        ],
    )
    result = ingest(desk, new_mail(), history=True)
    ticket = Ticket.objects.get(pk=result.ticket.pk)
    assert (ticket.queue.name, ticket.assignee) == ("Support", None)
    assert not OutboxItem.objects.exists()
    text = trace_text(result)
    assert "history import: not distributed to an agent" in text
    assert "history import: never answered" in text


def test_a_distributed_ticket_waits_for_its_agent_like_a_transfer(desk):
    configure(desk, console={"wait_for_agent_minutes": 10, "wait_for_queue_minutes": 30})
    route(desk, actions=[{"queue": "Support"}, {"distribute": "round_robin"}])
    alice, bob = agents("alice", "bob")
    first = ingest(desk, new_mail(subject="One"))
    second = ingest(desk, new_mail(subject="Two"))
    assert said(first, "route", "assigned", "alice@example.com (2 of 2 agents available); waits 10")
    waiting = Transfer.objects.get(ticket=first.ticket.pk)
    assert (waiting.state, waiting.to_user, waiting.to_queue.name) == (
        "waiting_agent",
        alice,
        "Support",
    )
    note = InternalNote.objects.get(ticket=first.ticket.pk)
    assert note.body.startswith("Distributed by round robin in queue Support: alice@example.com")

    # Bob accepts his; Alice does not, and after 10 minutes hers waits in the queue.
    handover.accept(access.actor_for(bob), Ticket.objects.get(pk=second.ticket.pk))
    handover.housekeeping(timezone.now() + dt.timedelta(minutes=11))
    assert Ticket.objects.get(pk=first.ticket.pk).assignee is None
    assert Transfer.objects.get(ticket=first.ticket.pk).state == "waiting_queue"
    assert Ticket.objects.get(pk=second.ticket.pk).assignee == bob


def test_a_trigger_that_assigns_cancels_the_offer(desk):
    (alice, bob) = agents("alice", "bob")
    trigger = {"name": "to bob", "if": {}, "then": {"assign": "bob@example.com"}}
    route(desk, actions=[{"distribute": "round_robin"}], triggers=[trigger])
    result = ingest(desk, new_mail())
    assert Ticket.objects.get(pk=result.ticket.pk).assignee == bob
    assert not Transfer.objects.exists()


def test_trace_explains_a_dry_run_and_a_stored_message(desk, tmp_path):
    route(desk, working_hours=CLOSED, actions=PLAN, triggers=[VIP])
    agents("alice")
    path = tmp_path / "mail.eml"
    raw = new_mail(sender="vera@vip.example")
    path.write_bytes(raw)

    dry = io.StringIO()
    call_command("trace", "--dry-run", "--mailbox", "support", str(path), stdout=dry)
    assert "auto-reply 'after_hours' to vera@vip.example" in dry.getvalue()
    assert "trigger 'VIP domain' matched (created): priority high" in dry.getvalue()
    assert not OutboxItem.objects.exists() and not Queue.objects.exists()

    ingest(desk, raw)
    stored = io.StringIO()
    call_command("trace", message_id_of(raw), stdout=stored)
    lines = [line.split(None, 2) for line in stored.getvalue().splitlines()]
    assert ["route", "outside"] in [line[:2] for line in lines]
    assert ["triggers", "matched"] in [line[:2] for line in lines]


def test_triggers_read_status_and_type_and_set_type_and_a_note(desk):
    configure(desk, tickets={"type": "Incident"})
    triggers = [
        {
            "name": "questions",
            "if": {"type": ["Incident"], "status": ["new"], "subject_contains": ["?"]},
            "then": {"type": "Question", "note": "Answer from the FAQ first."},
        },
        {"name": "incidents only", "if": {"type": ["Incident"]}, "then": {"tags": ["incident"]}},
    ]
    route(desk, triggers=triggers)
    result = ingest(desk, new_mail(subject="How do I print?"))
    ticket = Ticket.objects.get(pk=result.ticket.pk)
    assert ticket.type.name == "Question"
    assert not ticket.tags.exists()
    note = InternalNote.objects.get(ticket=ticket)
    assert (note.kind, note.body) == ("note", "Answer from the FAQ first.")
    assert said(result, "triggers", "matched", "(created): type Question, a note")
    assert said(result, "triggers", "miss", "'incidents only': type Question is not Incident")


def test_an_auto_reply_takes_the_place_of_the_acknowledgement(desk):
    configure(desk, replies={"auto_acknowledge": True})
    route(desk, working_hours=CLOSED, actions=PLAN)
    result = ingest(desk, new_mail())
    assert [item.kind for item in OutboxItem.objects.all()] == ["auto_reply"]
    assert said(result, "acknowledge", "skip", "the auto-reply 'after_hours' answers this mail")
    # Inside hours there is no auto-reply, and the acknowledgement goes as before.
    route(desk, working_hours=ALWAYS, actions=PLAN)
    ingest(desk, new_mail(sender="bob@acme.example"))
    assert OutboxItem.objects.filter(kind="auto_ack", recipient="bob@acme.example").exists()
