"""Suggested answers in a real browser: an agent inserts one into the reply and sends it."""

from __future__ import annotations

import re

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.outbound.models import OutboxItem
from deskmail.services import actions
from deskmail.testing.browser import Console, assert_named_controls

pytestmark = pytest.mark.browser

FIX = "Hold the power button for ten seconds, then plug it back in."


def test_an_agent_inserts_an_earlier_answer_edits_and_sends_it(console: Console, team):
    old = north_mail(team, subject="Router dead", body="My router shows no lights.")
    actions.reply(team.actor(team.ada), old, body_text=FIX, status="resolved")
    ticket = north_mail(team, subject="No lights", body="The router has no lights at all")
    page = console.sign_in(team.nora)
    page.get_by_role("link", name="No lights").click()
    page.wait_for_url(re.compile(r"/t/\d+/$"))
    assert_named_controls(page)
    assert page.get_by_role("link", name=f"ticket #{old.number}").is_visible()

    page.get_by_role("button", name="Insert suggestion 1", exact=True).click()

    reply = page.get_by_role("textbox", name="Reply", exact=True)
    reply.wait_for()
    assert reply.input_value() == FIX
    reply.fill("Hello Ann,\n\n" + FIX)
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_role("button", name="Undo send").wait_for()
    item = OutboxItem.objects.get(ticket=ticket)
    assert item.outgoing.reply_text.replace("\r\n", "\n") == "Hello Ann,\n\n" + FIX
