"""The composer's "Rewrite for this customer": only when switched on, the rewrite shown
with Insert and Insert as draft, a failing server told in words with the suggestions
kept, the log for supervisors, and the key on no page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from deskmail.console.tests.conftest import north_mail
from deskmail.outbound.models import OutboxItem
from deskmail.services import actions, generation
from deskmail.services.access import SYSTEM
from deskmail.suggest.models import Rewrite
from deskmail.testing.chatserver import ChatServer
from deskmail.testing.personas import Team
from deskmail.tickets.models import Draft, Ticket

pytestmark = pytest.mark.django_db

FIX = "Hold the power button for ten seconds, then plug it back in."
KEY = "sk-console-91ad-never-shown"
REWRITTEN = "Dear Bea, please hold the power button of the router for ten seconds."


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with ChatServer(models=["llama3.2"], api_key=KEY) as server:
        server.answer = REWRITTEN
        yield server


@pytest.fixture
def asked(team: Team, django_capture_on_commit_callbacks: Any) -> Ticket:
    old = north_mail(team, subject="Router dead", body="My router shows no lights.")
    with django_capture_on_commit_callbacks(execute=True):
        actions.reply(team.actor(team.ada), old, body_text=FIX, status="resolved")
    return north_mail(
        team, subject="No lights", body="The router has no lights", sender="bea@shop.example"
    )


@pytest.fixture
def on(chat: ChatServer) -> None:
    generation.update_config(
        SYSTEM, enabled=True, base_url=chat.base_url, model="llama3.2", api_key=KEY
    )


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_switched_off_the_composer_offers_no_rewrite(team: Team, asked: Ticket) -> None:
    page = signed_in(team.nora).get(f"/t/{asked.number}/").content.decode()

    assert FIX in page and "Rewrite for this customer" not in page


def test_an_agent_rewrites_the_top_suggestion_and_inserts_it(
    team: Team, asked: Ticket, chat: ChatServer, on: None
) -> None:
    nora = signed_in(team.nora)
    page = nora.get(f"/t/{asked.number}/").content.decode()

    rewritten = nora.post(
        f"/t/{asked.number}/suggestions/rewrite/",
        {"to": "bea@shop.example", "body": "Hello Bea,"},
        headers={"HX-Request": "true", "HX-Target": "composer"},
    )
    row = Rewrite.objects.get(ticket=asked)
    inserted = nora.post(
        f"/t/{asked.number}/reply/",
        {"to": "bea@shop.example", "body": "Hello Bea,", "rewrite": str(row.pk)},
    ).content.decode()

    assert page.count("Rewrite for this customer") == 1
    body = rewritten.content.decode()
    assert rewritten.status_code == 200 and body.lstrip().startswith('<section id="composer"')
    assert REWRITTEN in body and FIX in body and "Hello Bea,</textarea>" in body
    assert 'aria-label="Insert the rewrite"' in body
    assert f"Hello Bea,\n\n{REWRITTEN}</textarea>" in inserted
    row.refresh_from_db()
    assert row.inserted_at is not None
    assert not OutboxItem.objects.filter(ticket=asked).exists()


def test_insert_as_draft_saves_the_rewrite_in_the_draft(
    team: Team, asked: Ticket, chat: ChatServer, on: None
) -> None:
    nora = signed_in(team.nora)
    nora.get(f"/t/{asked.number}/")
    nora.post(f"/t/{asked.number}/suggestions/rewrite/", {"body": ""})
    row = Rewrite.objects.get(ticket=asked)

    drafted = nora.post(
        f"/t/{asked.number}/rewrites/{row.pk}/draft/",
        {"to": "bea@shop.example", "cc": "", "body": "Hi,"},
    )

    assert drafted.status_code == 302
    assert Draft.objects.get(ticket=asked, user=team.nora).body == f"Hi,\n\n{REWRITTEN}"
    assert (
        signed_in(team.sam).post(f"/t/{asked.number}/rewrites/{row.pk}/draft/").status_code == 404
    )


def test_a_failing_server_is_told_and_the_suggestions_stay(
    team: Team, asked: Ticket, chat: ChatServer, on: None
) -> None:
    chat.failing = 500
    nora = signed_in(team.nora)
    nora.get(f"/t/{asked.number}/")

    answer = nora.post(f"/t/{asked.number}/suggestions/rewrite/", {"body": "Hello Bea,"})

    page = answer.content.decode()
    assert answer.status_code == 200
    assert "The rewrite failed: the generation server at 127.0.0.1:" in page
    assert "answered 500: The server had an error" in page
    assert FIX in page and 'aria-label="Insert suggestion 1"' in page
    assert "Hello Bea,</textarea>" in page and 'aria-label="Insert the rewrite"' not in page


def test_supervisors_review_the_rewrites_and_no_page_shows_the_key(
    team: Team, asked: Ticket, chat: ChatServer, on: None
) -> None:
    nora = signed_in(team.nora)
    nora.get(f"/t/{asked.number}/")
    nora.post(f"/t/{asked.number}/suggestions/rewrite/", {"body": ""})
    generation.update_config(SYSTEM, api_key="sk-typo-4411")
    nora.post(f"/t/{asked.number}/suggestions/rewrite/", {"body": ""})
    generation.update_config(SYSTEM, api_key=KEY)

    for_sam = signed_in(team.sam).get(f"/t/{asked.number}/").content.decode()
    for_nora = nora.get(f"/t/{asked.number}/").content.decode()
    stan = signed_in(team.stan)

    assert 'id="rewrites-title">Rewrites' in for_sam
    assert "nora@helpdesk.example · llama3.2" in for_sam and "failed" in for_sam
    assert "Prompt (system)" in for_sam and "The router has no lights" in for_sam
    assert REWRITTEN in for_sam
    assert "Incorrect API key provided: ********" in for_sam and "sk-typo-4411" not in for_sam
    assert 'id="rewrites-title"' not in for_nora
    assert KEY not in for_sam and KEY not in for_nora
    assert stan.post(f"/t/{asked.number}/suggestions/rewrite/").status_code == 404


def test_admins_configure_it_in_the_console_and_the_key_is_never_shown(
    team: Team, chat: ChatServer
) -> None:
    ada = signed_in(team.ada)
    form = {
        "enabled": "on",
        "base_url": chat.base_url,
        "model": "llama3.2",
        "api_key": KEY,
        "timeout_seconds": "15",
    }

    saved = ada.post("/settings/generation/", form)
    kept = ada.post("/settings/generation/", {**form, "api_key": ""})
    page = ada.get("/settings/generation/").content.decode()
    tried = ada.post("/settings/generation/", {"try": "1"}, follow=True).content.decode()
    refused = ada.post("/settings/generation/", {**form, "model": "", "api_key": ""})

    assert saved.status_code == 302 and kept.status_code == 302
    assert generation.config(SYSTEM) == generation.Config(
        enabled=True,
        base_url=chat.base_url,
        model="llama3.2",
        api_key_set=True,
        timeout_seconds=15.0,
    )
    assert "A key is stored, encrypted" in page and KEY not in page
    assert f"The server answered: {REWRITTEN}" in tried and KEY not in tried
    assert chat.received()[-1].headers["Authorization"] == f"Bearer {KEY}"
    assert refused.status_code == 422 and "name the model" in refused.content.decode()
    assert KEY not in refused.content.decode()
    for person in (team.sam, team.nora):
        assert signed_in(person).get("/settings/generation/").status_code == 404
        assert signed_in(person).post("/settings/generation/", form).status_code == 404
    ada.post("/settings/generation/", {**form, "api_key": "", "remove_api_key": "on"})
    assert generation.config(SYSTEM).api_key_set is False
