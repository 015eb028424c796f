"""The ticket view and answering, in a real browser."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.outbound.models import OutboxItem
from deskmail.testing.browser import Console, assert_named_controls
from deskmail.tickets.models import InternalNote

pytestmark = pytest.mark.browser


def _open(console: Console, team, subject: str):
    page = console.sign_in(team.nora)
    page.get_by_role("link", name=subject).click()
    page.wait_for_url(re.compile(r"/t/\d+/$"))
    assert_named_controls(page)
    return page


def test_it_opens_a_ticket_and_replies_to_the_customer(console: Console, team):
    ticket = north_mail(
        team,
        subject="Printer broken",
        sender="Ann <ann@acme.example>",
        cc=["bob@acme.example", team.north.address],
    )
    page = _open(console, team, "Printer broken")

    assert page.get_by_role("textbox", name="To", exact=True).input_value() == "ann@acme.example"
    assert page.get_by_role("textbox", name="Cc", exact=True).input_value() == "bob@acme.example"
    page.get_by_role("textbox", name="Reply", exact=True).fill("A technician is on the way.")
    page.get_by_role("combobox", name="Then set the status").select_option("pending")
    page.get_by_role("button", name="Send", exact=True).click()

    page.get_by_role("button", name="Undo send").wait_for()
    item = OutboxItem.objects.get(ticket=ticket)
    assert item.outgoing.to == ["ann@acme.example"] and item.outgoing.cc == ["bob@acme.example"]
    assert item.agent == team.nora
    ticket.refresh_from_db()
    assert ticket.status == "pending"


def test_undo_send_puts_the_reply_back_in_the_composer(console: Console, team):
    ticket = north_mail(team, subject="Printer broken")
    page = _open(console, team, "Printer broken")
    page.get_by_role("textbox", name="Reply", exact=True).fill("Sent to the wrong customer")
    page.get_by_role("button", name="Send", exact=True).click()

    page.get_by_role("button", name="Undo send").click()

    page.get_by_text("Not sent. The text is back in your draft.").wait_for()
    assert (
        page.get_by_role("textbox", name="Reply", exact=True).input_value()
        == "Sent to the wrong customer"
    )
    assert not OutboxItem.objects.filter(ticket=ticket).exists()


def test_a_draft_survives_a_reload_and_a_colleagues_change(console: Console, team):
    ticket = north_mail(team, subject="Printer broken")
    page = _open(console, team, "Printer broken")

    page.get_by_role("textbox", name="Reply", exact=True).fill("Half a thought")
    page.get_by_text(re.compile("Draft saved")).wait_for()
    from deskmail.services import actions

    actions.set_status(team.actor(team.sam), ticket, "pending")
    page.reload()

    assert page.get_by_role("textbox", name="Reply", exact=True).input_value() == "Half a thought"
    assert page.get_by_role("combobox", name="Status", exact=True).input_value() == "pending"


def test_it_adds_an_internal_note_and_assigns_in_place(console: Console, team):
    ticket = north_mail(team, subject="Printer broken")
    page = _open(console, team, "Printer broken")

    page.get_by_role("tab", name="Internal note").click()
    page.get_by_role("textbox", name=re.compile("^Internal note")).fill("Called facilities.")
    page.get_by_role("button", name="Add note").click()
    page.get_by_text("Note added.").wait_for()
    assert InternalNote.objects.get(ticket=ticket).body == "Called facilities."

    page.evaluate("window.__sameDocument = true")
    page.get_by_role("combobox", name="Agent", exact=True).select_option(
        label="nora@helpdesk.example"
    )
    page.get_by_role("status").filter(has_text="Saved.").wait_for()
    assert page.evaluate("window.__sameDocument") is True
    ticket.refresh_from_db()
    assert ticket.assignee == team.nora


def test_it_downloads_the_thread_as_a_zip(console: Console, team):
    north_mail(team, subject="Printer broken", attachments=[("scan.txt", "text/plain", b"scan")])
    page = _open(console, team, "Printer broken")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download thread (.zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert len(archive.namelist()) == 1 and archive.namelist()[0].startswith("001-")
    with page.expect_download() as bare:
        page.get_by_role("link", name="Download without attachments").click()
    assert bare.value.suggested_filename.endswith("-without-attachments.zip")


def test_keyboard_j_k_enter_opens_and_r_goes_to_the_reply(console: Console, team):
    north_mail(team, subject="First")
    north_mail(team, subject="Second")
    page = console.sign_in(team.nora)

    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/t/\d+/$"))
    assert page.get_by_role("heading", level=1).inner_text().endswith("Second")
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.dataset.compose") == "note"
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.dataset.compose") == "reply"
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    assert page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
