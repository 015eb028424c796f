"""Changing a ticket's fields: priority, queue, type, custom fields, and a change as a whole."""

from __future__ import annotations

import pytest

from deskmail.events import log
from deskmail.ingest.api import ingest
from deskmail.services import ticket_fields
from deskmail.services.errors import Invalid, NotFound
from deskmail.services.ticket_fields import Change
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Queue, Ticket, TicketType

pytestmark = pytest.mark.django_db


@pytest.fixture
def north_ticket(team) -> Ticket:
    return Ticket.objects.get(pk=ingest(team.north, make_email(to=team.north.address)).ticket.pk)


def test_it_changes_several_fields_at_once_and_logs_each(team, north_ticket):
    Queue.objects.create(name="Hardware")
    TicketType.objects.create(name="Incident")
    start = log.latest()

    changed = ticket_fields.update(
        team.actor(team.nora),
        north_ticket,
        Change(
            status="open",
            priority="high",
            queue="Hardware",
            type="Incident",
            assignee="nora@helpdesk.example",
            tags=["printer"],
            custom_fields={"order": "A-17"},
        ),
    )

    assert (changed.status, changed.priority, changed.queue.name, changed.type.name) == (
        "open",
        "high",
        "Hardware",
        "Incident",
    )
    assert changed.assignee == team.nora and changed.custom_fields == {"order": "A-17"}
    changes = [e.data["changes"] for e in log.after(start)]
    assert {key for change in changes for key in change} == {
        "status",
        "priority",
        "queue",
        "type",
        "assignee",
        "tags",
        "custom_fields",
    }


def test_it_changes_nothing_when_one_part_is_wrong(team, north_ticket):
    with pytest.raises(Invalid) as refused:
        ticket_fields.update(
            team.actor(team.nora), north_ticket, Change(priority="high", queue="No such queue")
        )

    assert refused.value.field == "queue"
    north_ticket.refresh_from_db()
    assert north_ticket.priority == "normal"


def test_it_keeps_custom_fields_to_the_types_fields_and_kinds(team, north_ticket):
    kind = TicketType.objects.create(
        name="Order",
        fields=[{"name": "order", "kind": "text"}, {"name": "items", "kind": "number"}],
    )
    north_ticket.type = kind
    north_ticket.save()
    nora = team.actor(team.nora)

    assert ticket_fields.set_custom_fields(nora, north_ticket, {"items": 3}) == {"items": 3}
    with pytest.raises(Invalid) as unknown:
        ticket_fields.set_custom_fields(nora, north_ticket, {"colour": "red"})
    assert unknown.value.field == "custom_fields.colour"
    with pytest.raises(Invalid) as wrong_kind:
        ticket_fields.set_custom_fields(nora, north_ticket, {"items": "three"})
    assert wrong_kind.value.field == "custom_fields.items"
    assert ticket_fields.set_custom_fields(nora, north_ticket, {"items": None}) == {}


def test_it_leaves_out_people_of_other_mailboxes(team, north_ticket):
    with pytest.raises(NotFound):
        ticket_fields.update(team.actor(team.stan), north_ticket, Change(priority="low"))
    with pytest.raises(Invalid) as refused:
        ticket_fields.update(team.actor(team.nora), north_ticket, Change(assignee=team.stan.pk))
    assert refused.value.field == "assignee"
