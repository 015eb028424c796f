"""The composer's suggested answers: shown, inserted, drafted, voted; never another
mailbox's, never sent."""

from __future__ import annotations

from typing import Any

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.ingest.api import ingest
from deskmail.outbound.models import OutboxItem
from deskmail.services import actions
from deskmail.suggest.models import Suggestion
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team
from deskmail.tickets.models import Draft, Ticket

pytestmark = pytest.mark.django_db

FIX = "Hold the power button for ten seconds, then plug it back in."


@pytest.fixture
def asked(team: Team, django_capture_on_commit_callbacks: Any) -> Ticket:
    """North solved a dead router before; now another customer asks the same."""
    old = north_mail(team, subject="Router dead", body="My router shows no lights.")
    with django_capture_on_commit_callbacks(execute=True):
        actions.reply(team.actor(team.ada), old, body_text=FIX, status="resolved")
    south = ingest(team.south, make_email(to=team.south.address, body="Router shows no lights."))
    assert south.ticket is not None
    with django_capture_on_commit_callbacks(execute=True):
        actions.reply(team.actor(team.ada), south.ticket, body_text="South only", status="resolved")
    return north_mail(team, subject="No lights", body="The router has no lights at all")


def test_the_composer_shows_suggestions_and_insert_puts_one_in(team: Team, asked: Ticket) -> None:
    from django.test import Client

    nora = Client()
    nora.force_login(team.nora)
    page = nora.get(f"/t/{asked.number}/").content.decode()
    row = Suggestion.objects.get(ticket=asked, rank=1)

    inserted = nora.post(
        f"/t/{asked.number}/reply/",
        {"to": "ann@acme.example", "body": "Hello Ann,", "suggestion": str(row.pk)},
    ).content.decode()

    assert "Suggested answers" in page and FIX in page and "South only" not in page
    assert f"Hello Ann,\n\n{FIX}</textarea>" in inserted
    row.refresh_from_db()
    assert row.inserted_at is not None
    assert not OutboxItem.objects.filter(ticket=asked).exists()


def test_insert_as_draft_and_votes(team: Team, asked: Ticket) -> None:
    from django.test import Client

    nora = Client()
    nora.force_login(team.nora)
    nora.get(f"/t/{asked.number}/")
    row = Suggestion.objects.get(ticket=asked, rank=1)

    drafted = nora.post(
        f"/t/{asked.number}/suggestions/{row.pk}/draft/",
        {"to": "ann@acme.example", "cc": "", "body": "Hi,"},
    )
    voted = nora.post(f"/t/{asked.number}/suggestions/{row.pk}/vote/", {"vote": "down"})
    stan = Client()
    stan.force_login(team.stan)

    assert drafted.status_code == 302 and voted.status_code == 302
    assert Draft.objects.get(ticket=asked, user=team.nora).body == f"Hi,\n\n{FIX}"
    row.refresh_from_db()
    assert row.vote == "down"
    assert (
        stan.post(f"/t/{asked.number}/suggestions/{row.pk}/vote/", {"vote": "up"}).status_code
        == 404
    )
    assert not OutboxItem.objects.filter(ticket=asked).exists()
