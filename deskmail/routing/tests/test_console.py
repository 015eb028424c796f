"""The console's "Why is this here?" page explains routing and triggers, to those who may see."""

from __future__ import annotations

import pytest
from django.test import Client

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.services import availability
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db


def test_the_trace_page_shows_each_routing_decision(team: Team) -> None:
    configure(
        team.north,
        routing={
            "actions": [{"queue": "Front desk"}, {"distribute": "least_busy"}],
            "triggers": [
                {
                    "name": "Refunds",
                    "if": {"subject_contains": ["refund"]},
                    "then": {"tags": ["money"]},
                }
            ],
        },
    )
    result = ingest(team.north, make_email(to=team.north.address, subject="Refund please"))
    assert result.message is not None
    nora, stan = Client(), Client()
    nora.force_login(team.nora)
    stan.force_login(team.stan)

    page = nora.get(f"/m/{result.message.pk}/trace/").content.decode()

    assert "<td>route</td><td>routed</td><td>routed to queue Front desk</td>" in page
    assert "least busy in queue Front desk: nora@helpdesk.example" in page
    assert "trigger &#x27;Refunds&#x27; matched (created): tags money" in page
    assert stan.get(f"/m/{result.message.pk}/trace/").status_code == 404


def test_the_team_page_shows_each_agents_availability(team: Team) -> None:
    availability.set_availability(team.actor(team.nora), "nora@helpdesk.example", "paused", "lunch")
    sam = Client()
    sam.force_login(team.sam)

    page = sam.get("/team/").content.decode()

    assert '<th scope="col">Availability</th>' in page
    assert "<td>Paused (lunch)</td>" in page


def test_the_ticket_shows_the_automatic_answer_as_such(team: Team) -> None:
    configure(
        team.north,
        outbound={"host": "127.0.0.1"},
        routing={
            "working_hours": {},
            "templates": [{"name": "closed", "body": "<p>We are closed today.</p>"}],
            "actions": [{"hours": {"outside": [{"auto_reply": "closed"}]}}],
        },
    )
    result = ingest(team.north, make_email(to=team.north.address, subject="Help"))
    assert result.ticket is not None
    nora = Client()
    nora.force_login(team.nora)

    page = nora.get(f"/t/{result.ticket.number}/").content.decode()

    assert "Automatic answer" in page
    assert "We are closed today." in page
