"""A mailbox that takes no new tickets, in a real browser: the admin switches it off in the
account settings, and finds the mail it kept, with the trace that says why."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from deskmail.console.tests.test_accounts import IMAP_FORM
from deskmail.ingest.api import ingest
from deskmail.mailboxes.models import Mailbox
from deskmail.testing.browser import Console, assert_named_controls
from deskmail.testing.builders import make_email

pytestmark = pytest.mark.browser


def test_an_admin_stops_new_tickets_and_finds_the_kept_mail(console: Console, team):
    admin = Client()
    admin.force_login(team.ada)
    assert admin.post("/accounts/new/imap/", IMAP_FORM).status_code == 302
    page = console.sign_in(team.ada)
    page.get_by_role("link", name="Email accounts").click()
    page.get_by_role("link", name="sales", exact=True).click()
    page.get_by_role("link", name="Edit sales").first.click()
    page.wait_for_url(f"{console.url}/accounts/sales/edit/")
    allow = page.get_by_role("checkbox", name="Allow new tickets")
    assert allow.is_checked()
    allow.uncheck()
    page.get_by_role("button", name="Save the account").click()
    page.get_by_text("Saved the account sales.").wait_for()
    sales = Mailbox.objects.get(name="sales")
    assert sales.settings.tickets.allow_new_tickets is False

    result = ingest(sales, make_email(subject="A brand new question", to=sales.address))
    assert result.ticket is None

    page.get_by_role("link", name="Kept mail").click()
    page.wait_for_url(f"{console.url}/kept/")
    row = page.get_by_role("row").filter(has_text="A brand new question")
    row.get_by_text("no new tickets from this mailbox").wait_for()
    assert_named_controls(page)
    row.get_by_role("link", name="Why is this here?").click()
    page.wait_for_url(re.compile(r"/m/\d+/trace/$"))
    step = page.get_by_role("row").filter(has_text="new_tickets").first
    step.get_by_text(re.compile("tickets.allow_new_tickets is off")).wait_for()
