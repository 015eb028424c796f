"""The ticket list in a real browser: sign in, views, filters, advanced search, keys."""

from __future__ import annotations

import re

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.testing.browser import Console, assert_named_controls

pytestmark = pytest.mark.browser


def test_it_signs_in_and_lists_the_tickets(console: Console, team):
    north_mail(team, subject="Printer broken")
    north_mail(team, subject="Invoice missing")

    page = console.sign_in(team.nora)

    rows = page.get_by_role("row")
    assert rows.filter(has_text="Printer broken").count() == 1
    assert rows.filter(has_text="Invoice missing").count() == 1
    assert page.get_by_role("link", name=re.compile(r"^All open 2")).count() == 1


def test_it_filters_and_searches_without_reloading_the_page(console: Console, team):
    north_mail(team, subject="Printer broken", body="the toner is empty")
    north_mail(team, subject="Invoice missing")
    page = console.sign_in(team.nora)
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("Full text").fill("toner")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("row").filter(has_text="Invoice missing").wait_for(state="detached")

    assert page.get_by_role("row").filter(has_text="Printer broken").count() == 1
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the list in place
    assert "q=toner" in page.url
    assert_named_controls(page)
