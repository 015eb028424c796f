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


def test_it_searches_by_conditions_that_can_be_switched_off_and_removed(console: Console, team):
    north_mail(team, subject="Invoice 113 missing")
    north_mail(team, subject="Printer broken")
    page = console.sign_in(team.nora)

    page.get_by_text("Advanced search").click()
    page.get_by_role("button", name="Add condition").click()
    page.get_by_role("combobox", name="Field of condition 1").select_option(label="Subject")
    page.get_by_role("combobox", name="Operator of condition 1").select_option(label="starts with")
    page.get_by_role("textbox", name="Value of condition 1").fill("invoice")
    page.get_by_role("button", name="Search with conditions").click()
    page.get_by_role("row").filter(has_text="Printer broken").wait_for(state="detached")
    assert page.get_by_role("row").filter(has_text="Invoice 113").count() == 1

    page.get_by_role("checkbox", name="Use condition 1").uncheck()
    page.get_by_role("button", name="Search with conditions").click()
    page.get_by_role("row").filter(has_text="Printer broken").wait_for()
    assert page.get_by_role("textbox", name="Value of condition 1").input_value() == "invoice"

    page.get_by_role("button", name="Remove condition 1").click()
    page.get_by_role("textbox", name="Value of condition 1").wait_for(state="detached")
    assert page.get_by_role("row").filter(has_text="Invoice 113").count() == 1


def test_it_assigns_the_selected_and_downloads_them_as_csv(console: Console, team):
    first = north_mail(team, subject="Invoice 113 missing")
    second = north_mail(team, subject="Printer broken")
    north_mail(team, subject="Not selected")
    page = console.sign_in(team.nora)

    page.get_by_role("checkbox", name=f"Select ticket {first.number}").check()
    page.get_by_role("checkbox", name=f"Select ticket {second.number}").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("number,subject,status")
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(
        [str(first.number), str(second.number)]
    )

    page.get_by_role("combobox", name="Action").select_option("assign")
    page.get_by_role("combobox", name="Agent").select_option(label="nora@helpdesk.example")
    page.get_by_role("button", name="Apply to selected").click()
    page.get_by_text("Assigned 2 tickets.").wait_for()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.assignee == second.assignee == team.nora
