"""Agents' availability: who may set it, from the command line too, and what distribution does."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.routing.models import Availability
from deskmail.services import availability, people
from deskmail.services.access import SYSTEM
from deskmail.services.errors import Invalid, NotFound
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_a_person_sets_their_own_and_a_supervisor_their_team(team: Team) -> None:
    availability.set_availability(team.actor(team.nora), "nora@helpdesk.example", "paused", "lunch")
    assert availability.availability_of(team.nora) == ("paused", "lunch")
    availability.set_availability(team.actor(team.sam), "nora@helpdesk.example", "available")
    assert availability.availability_of(team.nora) == ("available", "")
    # Stan (South) may neither see nor change Nora (North); Sam does not supervise Stan.
    with pytest.raises(NotFound):
        availability.set_availability(team.actor(team.stan), "nora@helpdesk.example", "paused")
    with pytest.raises(NotFound):
        availability.set_availability(team.actor(team.sam), "stan@helpdesk.example", "paused")
    with pytest.raises(Invalid):
        availability.set_availability(team.actor(team.nora), "nora@helpdesk.example", "asleep")


def test_the_command_line_sets_it_and_distribution_follows(team: Team) -> None:
    configure(team.north, routing={"actions": [{"distribute": "round_robin"}]})
    people.add_to_team(SYSTEM, team.north, ["stan@helpdesk.example"])
    out = io.StringIO()
    call_command(
        "users",
        "availability",
        "nora@helpdesk.example",
        "paused",
        "--reason",
        "training",
        stdout=out,
    )
    assert out.getvalue().strip() == "nora@helpdesk.example is paused (training)"
    listing = io.StringIO()
    call_command("users", "list", stdout=listing)
    assert "paused training" in listing.getvalue()

    mail = make_email(to=team.north.address)
    result = ingest(team.north, mail)
    assert Ticket.objects.get(pk=result.ticket.pk).assignee == team.stan
    assert Availability.objects.get(user=team.nora).state == "paused"


def test_signing_out_and_in_moves_an_agent_and_a_pause_outlives_a_second_sign_in(
    team: Team,
) -> None:
    client = Client()
    client.force_login(team.nora)
    client.logout()
    assert availability.availability_of(team.nora) == ("logged_out", "")

    client.force_login(team.nora)
    assert availability.availability_of(team.nora) == ("available", "")

    availability.set_availability(team.actor(team.nora), "nora@helpdesk.example", "paused", "call")
    Client().force_login(team.nora)  # another browser
    assert availability.availability_of(team.nora) == ("paused", "call")
    client.logout()
    assert availability.availability_of(team.nora) == ("logged_out", "")
