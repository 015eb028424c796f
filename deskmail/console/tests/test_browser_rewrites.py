"""Rewriting the top suggestion in a real browser: an agent has it rewritten for the
customer and inserts it; a failing server is told, and the suggestions stay."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.outbound.models import OutboxItem
from deskmail.services import actions, generation
from deskmail.services.access import SYSTEM
from deskmail.testing.browser import Console, assert_named_controls
from deskmail.testing.chatserver import ChatServer

pytestmark = pytest.mark.browser

FIX = "Hold the power button for ten seconds, then plug it back in."
KEY = "sk-browser-5e2c-never-shown"
REWRITTEN = "Dear Bea, please hold the power button of your router for ten seconds."


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with ChatServer(models=["llama3.2"], api_key=KEY) as server:
        server.answer = REWRITTEN
        yield server


def _open_ticket(console: Console, team, chat: ChatServer):
    old = north_mail(team, subject="Router dead", body="My router shows no lights.")
    actions.reply(team.actor(team.ada), old, body_text=FIX, status="resolved")
    ticket = north_mail(
        team, subject="No lights", body="The router has no lights", sender="bea@shop.example"
    )
    generation.update_config(
        SYSTEM, enabled=True, base_url=chat.base_url, model="llama3.2", api_key=KEY
    )
    page = console.sign_in(team.nora)
    page.get_by_role("link", name="No lights").click()
    page.wait_for_url(re.compile(r"/t/\d+/$"))
    return page, ticket


def test_an_agent_rewrites_the_top_suggestion_inserts_and_sends_it(
    console: Console, team, chat: ChatServer
) -> None:
    page, ticket = _open_ticket(console, team, chat)
    reply = page.get_by_role("textbox", name="Reply", exact=True)
    reply.fill("Hello Bea,")

    page.get_by_role("button", name="Rewrite for this customer").click()

    rewrite = page.get_by_role("region", name="Rewritten for this customer")
    rewrite.get_by_text(REWRITTEN).wait_for()
    assert_named_controls(page)
    assert reply.input_value() == "Hello Bea,"
    sent = chat.received()[0].json()["messages"][1]["content"]
    assert "The router has no lights" in sent and FIX in sent
    page.get_by_role("button", name="Insert the rewrite", exact=True).click()
    page.wait_for_function(
        "text => document.getElementById('reply-body').value.endsWith(text)", arg=REWRITTEN
    )
    assert reply.input_value() == f"Hello Bea,\n\n{REWRITTEN}"
    assert not OutboxItem.objects.filter(ticket=ticket).exists()
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_role("button", name="Undo send").wait_for()
    item = OutboxItem.objects.get(ticket=ticket)
    assert item.outgoing.reply_text.replace("\r\n", "\n") == f"Hello Bea,\n\n{REWRITTEN}"
    assert KEY not in page.content()


def test_a_failing_server_is_told_and_the_suggestions_stay(
    console: Console, team, chat: ChatServer
) -> None:
    page, _ = _open_ticket(console, team, chat)
    chat.failing = 500

    page.get_by_role("button", name="Rewrite for this customer").click()

    alert = page.get_by_role("alert").filter(has_text="The rewrite failed")
    alert.wait_for()
    assert "answered 500" in alert.inner_text()
    assert page.get_by_role("button", name="Insert suggestion 1", exact=True).is_visible()
    assert page.get_by_text(FIX).first.is_visible()
    assert KEY not in page.content()


def test_an_admin_switches_rewriting_on_in_the_console(
    console: Console, team, chat: ChatServer
) -> None:
    page = console.sign_in(team.ada)
    page.get_by_role("link", name="Rewriting suggestions").click()
    page.wait_for_url(re.compile(r"/settings/generation/$"))
    assert_named_controls(page)

    page.get_by_label("Offer “Rewrite for this customer”").check()
    page.get_by_label("Server's base URL").fill(chat.base_url)
    page.get_by_label("Model").fill("llama3.2")
    page.get_by_label("API key (empty: keep the stored one)").fill(KEY)
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Saved the settings of rewriting suggestions.").wait_for()
    page.get_by_role("button", name="Try the saved settings").click()

    page.get_by_text(f"The server answered: {REWRITTEN}").wait_for()
    assert generation.config(SYSTEM).enabled is True
    assert KEY not in page.content()
