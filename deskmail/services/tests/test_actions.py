"""Ticket actions through the service layer: replies, notes, assignment, status, tags."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest
from deskmail.services import actions, people, queries
from deskmail.services.access import Role
from deskmail.services.errors import Invalid
from deskmail.services.queries import TicketFilter
from deskmail.testing.builders import make_email
from deskmail.tickets.models import InternalNote, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def north_ticket(team) -> Ticket:
    result = ingest(team.north, make_email(to=team.north.address, subject="Printer"))
    assert result.ticket is not None
    return Ticket.objects.get(pk=result.ticket.pk)


def test_it_queues_a_reply_to_the_customer_with_the_agent_as_author(team, north_ticket):
    item = actions.reply(team.actor(team.nora), north_ticket, body_text="Fixed.", status="pending")

    assert item.agent == team.nora and item.outgoing.to == ["ann@acme.example"]
    north_ticket.refresh_from_db()
    assert north_ticket.status == "pending"


def test_it_refuses_an_empty_reply_naming_why(team, north_ticket):
    with pytest.raises(Invalid, match="empty"):
        actions.reply(team.actor(team.nora), north_ticket, body_text="  ")


def test_it_adds_an_internal_note_by_its_author(team, north_ticket):
    created = actions.note(team.actor(team.sam), north_ticket, "Call them back.")

    assert created.kind == InternalNote.Kind.NOTE and created.author == team.sam


def test_it_assigns_only_to_someone_on_the_mailboxs_team(team, north_ticket):
    nora = team.actor(team.nora)

    actions.assign(nora, north_ticket, team.nora.pk)
    assert north_ticket.assignee == team.nora
    assert [t.number for t in queries.ticket_page(nora, TicketFilter(view="mine")).items] == [
        north_ticket.number
    ]
    with pytest.raises(Invalid, match="not on this mailbox's team"):
        actions.assign(nora, north_ticket, team.stan.pk)


def test_it_tags_and_untags(team, north_ticket):
    nora = team.actor(team.nora)

    assert actions.set_tags(nora, north_ticket, add=["vip", "printer"]) == ["printer", "vip"]
    assert actions.set_tags(nora, north_ticket, remove=["vip"]) == ["printer"]
    filtered = queries.ticket_page(nora, TicketFilter(tags=["printer"])).items
    assert [t.number for t in filtered] == [north_ticket.number]


def test_it_pages_by_cursor_without_repeating_or_skipping(team):
    for n in range(7):
        ingest(team.north, make_email(to=team.north.address, subject=f"Question {n}"))
    ada = team.actor(team.ada)
    seen: list[int] = []
    cursor = None
    while True:
        page = queries.ticket_page(ada, TicketFilter(), limit=3, cursor=cursor)
        seen += [t.number for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert sorted(seen) == list(range(1, 8)) and len(seen) == 7


def test_it_creates_people_with_a_role_and_a_team(team):
    person = people.create_user(
        team.actor(team.ada), "new@helpdesk.example", Role.AGENT, mailboxes=["south"]
    )

    assert people.team(team.south) == [
        ("new@helpdesk.example", "agent"),
        ("stan@helpdesk.example", "agent"),
    ]
    assert not person.has_usable_password()
    with pytest.raises(Invalid, match="already"):
        people.create_user(team.actor(team.ada), "NEW@helpdesk.example", Role.AGENT)
