"""The screenshots in README.md, taken from the real console with fixed data."""

from __future__ import annotations

import datetime as dt

import pytest

from deskmail.console.tests.conftest import north_mail
from deskmail.services import actions
from deskmail.testing.browser import SCREENSHOTS, Console
from deskmail.tickets.models import InternalNote, Message, Ticket

pytestmark = pytest.mark.browser
AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _seed(team) -> Ticket:
    for user, first, last in ((team.nora, "Nora", "Lind"), (team.sam, "Sam", "Berg")):
        user.first_name, user.last_name = first, last
        user.save(update_fields=["first_name", "last_name"])
    mails = [
        (
            "Ann Weber <ann@acme.example>",
            "Printer on floor 2 prints blank pages",
            "Hello,\n\nsince this morning the printer on floor 2 only prints blank pages.\n"
            "We changed the toner, no luck.\n\nThanks,\nAnn\n",
        ),
        ("Bert Buyer <bert@widgets.example>", "Invoice 2026-113 is missing", "Hi, where is it?\n"),
        (
            "Cleo Park <cleo@shop.example>",
            "Password reset mail does not arrive",
            "I tried twice.\n",
        ),
        ("Dan Ito <dan@studio.example>", "Can we add a second mailbox?", "For sales.\n"),
        ("Eve Martin <eve@acme.example>", "VPN drops every 10 minutes", "Since the update.\n"),
    ]
    tickets = []
    for offset, (sender, subject, body) in enumerate(mails):
        tickets.append(
            north_mail(
                team,
                subject=subject,
                sender=sender,
                body=body,
                date=AT + dt.timedelta(minutes=offset),
            )
        )
    first = tickets[0]
    nora = team.actor(team.nora)
    actions.assign(nora, first, team.nora.pk)
    actions.set_tags(nora, first, add=["hardware"])
    actions.reply(nora, first, body_text="Hello Ann,\n\na technician is on the way.\n\nNora")
    actions.note(nora, first, "Facilities say the fuser was replaced last week. @sam FYI")
    actions.set_status(nora, tickets[1], "pending")
    for index, ticket in enumerate(tickets):
        when = AT + dt.timedelta(minutes=5 * index)
        Message.objects.filter(ticket=ticket).update(received_at=when)
        InternalNote.objects.filter(ticket=ticket).update(created_at=when + dt.timedelta(minutes=1))
        Ticket.objects.filter(pk=ticket.pk).update(created_at=when, updated_at=when)
    Message.objects.filter(ticket=first, direction="out").update(
        received_at=AT + dt.timedelta(minutes=30)
    )
    InternalNote.objects.filter(ticket=first).update(created_at=AT + dt.timedelta(minutes=35))
    return first


def test_it_takes_the_screenshots_of_the_list_and_the_ticket(console: Console, team):
    first = _seed(team)
    page = console.sign_in(team.nora)
    page.get_by_role("row").filter(has_text="VPN drops").wait_for()
    list_shot = console.screenshot("ticket-list")

    page.get_by_role("link", name=first.title).click()
    page.get_by_role("heading", level=1).wait_for()
    ticket_shot = console.screenshot("ticket-view")

    assert list_shot.parent == ticket_shot.parent == SCREENSHOTS
    assert list_shot.stat().st_size > 10_000 and ticket_shot.stat().st_size > 10_000
