"""Live updates and handing over, in real browsers: new mail appears without reloading,
a banner on the open ticket never disturbs the composer, a transfer is accepted."""

from __future__ import annotations

import re

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.ingest.api import ingest
from deskmail.testing.browser import Console
from deskmail.testing.builders import make_email
from deskmail.testing.waiting import eventually
from deskmail.tickets.models import Transfer

pytestmark = pytest.mark.browser


def test_new_mail_appears_in_the_open_list_without_reloading(console: Console, team):
    north_mail(team, subject="Already here")
    page = console.sign_in(team.nora)
    page.evaluate("window.__sameDocument = true")

    north_mail(team, subject="Arrived just now")

    page.get_by_role("row").filter(has_text="Arrived just now").wait_for()
    assert page.evaluate("window.__sameDocument") is True
    page.get_by_role("link", name=re.compile(r"^All open")).filter(has_text="2").wait_for()


def test_new_mail_on_the_open_ticket_is_a_banner_that_leaves_the_composer_alone(console, team):
    ticket = north_mail(team, subject="Printer broken")
    first = ticket.messages.get().message_id
    page = console.sign_in(team.nora)
    page.get_by_role("link", name="Printer broken").click()
    reply = page.get_by_role("textbox", name="Reply", exact=True)
    reply.fill("Typing my answer")
    reply.focus()

    ingest(
        team.north,
        make_email(
            to=team.north.address,
            subject="Re: Printer broken",
            body="It works again!",
            in_reply_to=first,
            references=[first],
        ),
    )

    banner = page.get_by_role("status").filter(has_text="1 new message")
    banner.wait_for()
    assert reply.input_value() == "Typing my answer"
    assert page.evaluate("document.activeElement.dataset.compose") == "reply"
    assert page.get_by_text("It works again!").count() == 0
    banner.get_by_role("link", name="Show").click()
    page.get_by_text("It works again!").wait_for()
    assert reply.input_value() == "Typing my answer"


def test_a_colleagues_change_updates_the_open_ticket(console: Console, team):
    ticket = north_mail(team, subject="Printer broken")
    page = console.sign_in(team.nora)
    page.get_by_role("link", name="Printer broken").click()
    page.get_by_role("combobox", name="Status", exact=True).wait_for()

    from deskmail.services import actions

    actions.set_status(team.actor(team.sam), ticket, "pending")
    actions.note(team.actor(team.sam), ticket, "Sam was here")

    page.get_by_text("Sam was here").wait_for()
    # The note and the status are two events; each part of the page follows its own.
    status = page.get_by_role("combobox", name="Status", exact=True)
    eventually(lambda: status.input_value() == "pending", what="the status shows pending")


def test_a_supervisor_transfers_and_the_agent_accepts(console: Console, team):
    ticket = north_mail(team, subject="Printer broken")
    sam = console.sign_in(team.sam)
    sam.get_by_role("link", name="Printer broken").click()
    sam.get_by_role("link", name="Transfer…").click()
    sam.get_by_role("combobox", name="To agent").select_option(label="nora@helpdesk.example")
    sam.get_by_role("combobox", name="To queue").fill("Printers")
    sam.get_by_role("button", name="Transfer").click()
    sam.get_by_text(re.compile("Transferred to nora@helpdesk.example")).wait_for()

    nora = console.another_person(team.nora)
    nora.goto(f"{console.url}/t/{ticket.number}/")
    nora.get_by_role("button", name="Accept the transfer").click()
    nora.get_by_text(f"#{ticket.number} is yours now.").wait_for()

    assert Transfer.objects.get().state == "accepted"
    sam.get_by_text("accepted the transfer").wait_for()  # live, in the supervisor's view
