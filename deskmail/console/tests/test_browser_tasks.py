"""Tasks in a real browser: give one by email, its reply shows in its history, mark it done."""

from __future__ import annotations

import re

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.ingest.api import ingest
from deskmail.tasks.models import Task
from deskmail.testing.browser import Console, assert_named_controls
from deskmail.testing.builders import make_email

pytestmark = pytest.mark.browser


def test_an_agent_gives_a_task_reads_the_reply_and_marks_it_done(console: Console, team):
    ticket = north_mail(team, subject="Printer broken", body="The fuser makes a noise.")
    page = console.sign_in(team.nora)
    page.get_by_role("link", name="Printer broken").click()
    page.wait_for_url(re.compile(r"/t/\d+/$"))
    page.get_by_text("No tasks yet.").wait_for()

    page.get_by_text("New task", exact=True).click()
    page.get_by_role("textbox", name="To (a colleague's or any address)").fill(
        "Vic Vendor <vic@vendor.example>"
    )
    page.get_by_role("textbox", name="Task", exact=True).fill("Order a new fuser")
    page.get_by_role("textbox", name="Instructions").fill("Model FX-9, please.")
    page.get_by_role("checkbox", name="Include the customer's latest message").check()
    assert_named_controls(page)
    page.get_by_role("button", name="Send task").click()

    page.get_by_role("status").filter(has_text="Task sent to vic@vendor.example.").wait_for()
    task = Task.objects.get(ticket=ticket)
    assert task.entries.get().kind == "sent"
    assert page.get_by_role("heading", name="Order a new fuser").count() == 1

    # The answer arrives by mail while the page is open: through the pipeline.
    ingest(
        team.north,
        make_email(
            sender="Vic Vendor <vic@vendor.example>",
            to=team.north.address,
            subject=f"Re: Task on #{ticket.number}: Order a new fuser",
            body="Ordered <script>alert(1)</script>, it comes on Monday.",
            html="<p>Ordered <script>alert(1)</script><b>, it comes on Monday.</b></p>",
            in_reply_to=task.message_id,
            references=[task.message_id],
        ),
    )

    history = page.get_by_role("list", name="History of the task Order a new fuser")
    history.get_by_text("it comes on Monday.").wait_for()
    page.get_by_text("New reply", exact=True).wait_for()
    assert "Ordered <script>alert(1)</script>" in history.inner_text()  # shown as text
    assert page.get_by_text("it comes on Monday.").count() == 1  # not in the thread
    history.get_by_text("Show the whole mail").click()
    frame = page.frame_locator("iframe[title='The whole reply from vic@vendor.example']")
    frame.get_by_text(", it comes on Monday.").wait_for()
    assert frame.locator("script").count() == 0

    page.get_by_role("button", name="Mark the task Order a new fuser done").click()

    page.get_by_role("status").filter(has_text="Task done.").wait_for()
    page.get_by_role("button", name="Reopen the task Order a new fuser").wait_for()
    task.refresh_from_db()
    assert task.status == "done" and not task.new_reply
    assert [e.kind for e in task.entries.all()] == ["sent", "reply", "done"]
    assert ticket.messages.count() == 1
