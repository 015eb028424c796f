"""Triggers that mail the agents (`notify_agents`), and an agent's answer by mail,
through the real pipeline."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest, ingest_batch
from deskmail.ingest.engine import IngestItem
from deskmail.outbound.models import OutboxItem
from deskmail.routing.tests.test_pipeline import TEMPLATES, agents, new_mail, route, said
from deskmail.services import access, fields, people
from deskmail.services.access import SYSTEM, Role
from deskmail.testing.builders import make_email
from deskmail.tickets.models import InternalNote, Message, Ticket

pytestmark = pytest.mark.django_db

OUTAGE = {
    "name": "Outage",
    "if": {"subject_contains": ["outage"]},
    "then": {"priority": "urgent", "notify_agents": "heads_up"},
}
HEADS_UP = {
    "name": "heads_up",
    "subject": "Outage reported: #{{ ticket.number }} {{ ticket.title }}",
    "body": "<p>{{ contact.name }} reports an outage. Priority {{ ticket.priority }}.</p>",
}


def _route(desk, *triggers: dict) -> None:
    route(desk, triggers=list(triggers), templates=[*TEMPLATES, HEADS_UP])


def _notices(ticket: Ticket) -> list[OutboxItem]:
    rows = OutboxItem.objects.filter(ticket=ticket, kind=OutboxItem.Kind.AGENT_NOTICE)
    return list(rows.select_related("outgoing").order_by("recipient"))


def test_an_unassigned_ticket_tells_the_whole_team_off_the_customers_thread(desk):
    _route(desk, OUTAGE)
    agents("bob", "carol")
    people.create_user(SYSTEM, "olga@example.com", Role.AGENT, mailboxes=[])  # not on the team

    result = ingest(desk, new_mail(subject="Total outage in Berlin"))

    ticket = Ticket.objects.get(pk=result.ticket.pk)
    notices = _notices(ticket)
    assert [n.recipient for n in notices] == ["bob@example.com", "carol@example.com"]
    sent = notices[0].outgoing
    assert sent is not None
    assert sent.subject == f"Outage reported: #{ticket.number} Total outage in Berlin"
    assert "Ann Customer reports an outage. Priority urgent." in sent.body_text
    # Nothing of the customer's thread: no In-Reply-To, no References, on no ticket.
    assert (sent.ticket_id, sent.in_reply_to, sent.references) == (None, "", [])
    assert sent.auto_submitted
    assert not Message.objects.filter(ticket=ticket, direction="out", subject=sent.subject)
    assert said(result, "triggers", "matched", "priority urgent, the agents get 'heads_up'")


def test_an_assigned_ticket_tells_its_agent_only(desk):
    _route(
        desk,
        {
            "name": "Ask Bob",
            "when": "updated",
            "if": {"priority": ["urgent"]},
            "then": {"notify_agents": "heads_up"},
        },
    )
    bob, _carol = agents("bob", "carol")
    ticket = Ticket.objects.get(pk=ingest(desk, new_mail(subject="Slow")).ticket.pk)
    actor = access.actor_for(bob)
    Ticket.objects.filter(pk=ticket.pk).update(assignee=bob)

    fields.set_priority(actor, Ticket.objects.get(pk=ticket.pk), "urgent")

    assert [n.recipient for n in _notices(ticket)] == ["bob@example.com"]


def test_an_agents_answer_to_the_notice_is_an_internal_note_not_customer_mail(desk):
    _route(desk, OUTAGE)
    bob, _carol = agents("bob", "carol")
    ticket = Ticket.objects.get(pk=ingest(desk, new_mail(subject="Outage!")).ticket.pk)
    to_bob = next(n for n in _notices(ticket) if n.recipient == "bob@example.com")
    assert to_bob.outgoing is not None
    notice_id = to_bob.outgoing.message_id
    before = Message.objects.filter(ticket=ticket).count()

    answer = ingest(
        desk,
        make_email(
            sender="Bob <bob@example.com>",
            subject=f"Re: {to_bob.outgoing.subject}",
            body="I am calling them now.\n\n> Ann Customer reports an outage.\n",
            in_reply_to=notice_id,
            references=[notice_id],
        ),
    )

    assert answer.ticket is None
    assert said(answer, "notice_reply", "matched", "an internal note on the ticket")
    note = InternalNote.objects.get(ticket=ticket, kind="note")
    assert (note.author, note.body) == (bob, "I am calling them now.")
    assert Message.objects.filter(ticket=ticket).count() == before
    assert Ticket.objects.count() == 1

    # The same Message-ID from anyone else is no agent's answer: it is handled as mail.
    stranger = ingest(
        desk,
        make_email(
            sender="mallory@elsewhere.example",
            subject="Re: your notice",
            in_reply_to=notice_id,
        ),
    )
    assert said(stranger, "notice_reply", "pass", "not an agent's answer")
    assert InternalNote.objects.filter(ticket=ticket, kind="note").count() == 1


def test_history_imports_tell_no_agent(desk):
    _route(desk, OUTAGE)
    agents("bob")
    ingest_batch(desk, [IngestItem(new_mail(subject="Old outage"))], history=True)

    ticket = Ticket.objects.get(title="Old outage")
    assert ticket.priority == "urgent"
    assert not _notices(ticket)


def test_a_batch_finds_the_agents_answer_among_other_mail(desk, caplog):
    _route(desk, OUTAGE)
    (bob,) = agents("bob")
    ticket = Ticket.objects.get(pk=ingest(desk, new_mail(subject="Outage!")).ticket.pk)
    (notice,) = _notices(ticket)
    assert notice.outgoing is not None
    notice_id = notice.outgoing.message_id
    unrelated = new_mail(subject="Another question")
    reply = make_email(
        sender="Ann Customer <ann@customer.example>",
        subject="Re: Another question",
        in_reply_to="<no-notice@customer.example>",
    )
    answer = make_email(
        sender="Bob <bob@example.com>",
        subject="Re: the outage",
        body="On it.",
        in_reply_to=notice_id,
        references=[notice_id],
    )

    results = ingest_batch(desk, [IngestItem(raw) for raw in (unrelated, reply, answer)])

    assert "ingesting one by one" not in caplog.text  # the batch's own store answered
    assert [said(r, "notice_reply", "matched", "") for r in results] == [False, False, True]
    note = InternalNote.objects.get(ticket=ticket, kind="note")
    assert (note.author, note.body) == (bob, "On it.")
