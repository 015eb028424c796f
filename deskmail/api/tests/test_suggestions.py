"""The suggested answers over the API: the list, feedback, into the draft, and 404s."""

from __future__ import annotations

from typing import Any

import pytest

from deskmail.api.tests.conftest import Callers, customer_ticket
from deskmail.services import actions
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db

FIX = "Hold the power button for ten seconds, then plug it back in."


@pytest.fixture
def solved(team: Team, django_capture_on_commit_callbacks: Any) -> Any:
    old = customer_ticket(team.north, subject="Router dead", body="My router shows no lights.")
    with django_capture_on_commit_callbacks(execute=True):
        actions.reply(team.actor(team.ada), old, body_text=FIX, status="resolved")
    return old


def test_an_agent_gets_a_suggestion_votes_and_puts_it_into_the_draft(
    api: Callers, team: Team, solved: Any
) -> None:
    ticket = customer_ticket(team.north, subject="No lights", body="The router has no lights")

    listed = api.nora.get(f"tickets/{ticket.number}/suggestions")
    top = listed.json()[0]
    voted = api.nora.post(
        f"tickets/{ticket.number}/suggestions/{top['id']}/feedback", {"vote": "up"}
    )
    drafted = api.nora.post(f"tickets/{ticket.number}/suggestions/{top['id']}/draft")

    assert listed.status == 200
    assert (top["text"], top["source"], top["ticket_number"]) == (FIX, "ticket", solved.number)
    assert voted.json()["vote"] == "up"
    assert drafted.json() == {"body": FIX}
    assert api.nora.get(f"tickets/{ticket.number}/suggestions").json()[0]["inserted"] is True


def test_a_ticket_the_caller_may_not_see_is_404(api: Callers, team: Team, solved: Any) -> None:
    ticket = customer_ticket(team.north, subject="No lights", body="The router has no lights")

    assert api.stan.get(f"tickets/{ticket.number}/suggestions").status == 404
