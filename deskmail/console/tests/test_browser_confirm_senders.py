"""Sender confirmation in a real browser: the admin switches it on in the account settings;
a new sender's ticket waits under Awaiting confirmation; the sender confirms on the page
behind the link in our mail, once."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from deskmail.console.tests.test_accounts import IMAP_FORM
from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.testing.browser import Console, assert_named_controls
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.browser


def test_an_admin_asks_new_senders_to_confirm(console: Console, team):
    admin = Client()
    admin.force_login(team.ada)
    assert admin.post("/accounts/new/imap/", IMAP_FORM).status_code == 302
    page = console.sign_in(team.ada)
    page.goto(f"{console.url}/accounts/sales/edit/")
    confirm = page.get_by_role("checkbox", name="Confirm new senders")
    assert not confirm.is_checked()
    confirm.check()
    page.get_by_label(re.compile(r"^Confirm within hours")).fill("12")
    page.get_by_role("button", name="Save the account").click()
    page.get_by_text("Saved the account sales.").wait_for()
    tickets = Mailbox.objects.get(name="sales").settings.tickets
    assert tickets.confirm_new_senders is True and tickets.confirm_within_hours == 12

    sales = Mailbox.objects.get(name="sales")
    result = ingest(sales, make_email(subject="Who are you", to=sales.address))
    assert result.ticket is not None

    page.goto(f"{console.url}/tickets/?view=open")
    page.get_by_text("Who are you").wait_for(state="detached")
    page.get_by_role("link", name=re.compile("^Awaiting confirmation")).click()
    page.get_by_role("link", name="Who are you").wait_for()
    assert_named_controls(page)


def test_a_new_sender_confirms_once_on_the_link_page(console: Console, team, settings):
    settings.DESKMAIL_PUBLIC_URL = console.url
    configure(team.north, tickets={"confirm_new_senders": True})
    result = ingest(team.north, make_email(subject="Lamp flickers", to=team.north.address))
    ticket = Ticket.objects.get(pk=result.ticket.pk)
    assert ticket.confirmation == "awaiting"
    body = OutboxItem.objects.get(ticket=ticket, kind="confirmation").outgoing.body_text
    link = re.search(rf"{re.escape(console.url)}/confirm/[^/\s]+/", body).group(0)

    page = console.page
    page.goto(link)
    assert_named_controls(page)
    page.get_by_text("Please confirm that a person wrote the message").wait_for()
    page.get_by_role("button", name="Confirm my message").click()
    page.get_by_role("status").filter(has_text="your message is confirmed").wait_for()
    ticket.refresh_from_db()
    assert ticket.confirmation == ""

    page.goto(link)
    page.get_by_role("alert").filter(has_text="This link was used already.").wait_for()

    page = console.sign_in(team.nora)
    page.goto(f"{console.url}/tickets/?view=open")
    page.get_by_role("link", name="Lamp flickers").wait_for()
