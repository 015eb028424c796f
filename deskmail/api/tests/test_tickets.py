"""Tickets over the API: filters, cursor pages, totals, new tickets, changes, deletion."""

from __future__ import annotations

import pytest

from deskmail.api.tests.conftest import customer_ticket
from deskmail.outbound.models import OutboxItem
from deskmail.services import actions
from deskmail.tickets.models import Queue, Ticket

pytestmark = pytest.mark.django_db


def test_it_pages_by_cursor_without_repeats_or_gaps_with_a_total_on_request(api, team):
    for n in range(7):
        customer_ticket(team.north, subject=f"Question {n}")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = "tickets?limit=3&total=true" + (f"&cursor={cursor}" if cursor else "")
        page = api.nora.get(query).json()
        pages += 1
        seen += [t["number"] for t in page["items"]]
        assert page["total"] == 7
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3 and sorted(seen) == list(range(1, 8)) and len(seen) == 7
    assert api.nora.get("tickets").json()["total"] is None


def test_it_filters_like_the_console(api, team, north_ticket):
    other = customer_ticket(team.north, subject="Invoice missing", sender="carl@shop.example")
    actions.set_status(team.actor(team.nora), other, "pending")
    actions.set_tags(team.actor(team.nora), other, add=["billing"])

    def numbers(query: str) -> list[int]:
        return [t["number"] for t in api.sam.get(f"tickets?{query}").json()["items"]]

    assert numbers("status=pending") == [other.number]
    assert numbers("status=new&status=pending") == [other.number, north_ticket.number]
    assert numbers("tag=billing") == [other.number]
    assert numbers("q=invoice") == [other.number]
    assert numbers("q=carl") == [other.number]
    assert numbers("view=pending") == [other.number]
    assert numbers("mailbox=south") == []
    assert numbers("created_from=2000-01-01T00:00:00Z") == [other.number, north_ticket.number]
    assert numbers("created_to=2000-01-01") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status.0"),
        ("view=everything", "view"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=garbage", "cursor"),
        ("created_from=yesterday", "created_from"),
    ],
)
def test_it_names_the_wrong_filter(api, query, field):
    answer = api.nora.get(f"tickets?{query}")

    assert answer.status == 422
    assert answer.json()["field"] == field


def test_it_shows_one_ticket_with_its_fields(api, team, north_ticket):
    actions.assign(team.actor(team.nora), north_ticket, team.nora.pk)

    got = api.nora.get(f"tickets/{north_ticket.number}").json()

    assert got["number"] == north_ticket.number and got["mailbox"] == "north"
    assert got["subject"] == "Printer on fire" and got["status"] == "new"
    assert got["assignee"] == {
        "id": team.nora.pk,
        "email": "nora@helpdesk.example",
        "name": "nora@helpdesk.example",
    }
    assert got["contact"]["address"] == "ann@acme.example"
    assert got["created_at"].endswith("Z")


def test_it_changes_what_is_sent_and_clears_what_is_null(api, team, north_ticket):
    Queue.objects.create(name="Hardware")
    changed = api.nora.patch(
        f"tickets/{north_ticket.number}",
        {
            "status": "open",
            "queue": "Hardware",
            "tags": ["vip"],
            "assignee": "sam@helpdesk.example",
        },
    ).json()
    assert (changed["status"], changed["queue"], changed["tags"]) == ("open", "Hardware", ["vip"])
    assert changed["assignee"]["email"] == "sam@helpdesk.example"

    cleared = api.nora.patch(f"tickets/{north_ticket.number}", {"queue": None}).json()
    assert cleared["queue"] is None and cleared["tags"] == ["vip"]
    assert cleared["assignee"]["email"] == "sam@helpdesk.example"


def test_it_refuses_a_change_naming_the_field(api, north_ticket):
    wrong = api.nora.patch(f"tickets/{north_ticket.number}", {"status": "done"})
    stranger = api.nora.patch(
        f"tickets/{north_ticket.number}", {"assignee": "stan@helpdesk.example"}
    )

    long_tag = api.nora.patch(f"tickets/{north_ticket.number}", {"tags": ["ok", "x" * 101]})

    assert (wrong.status, wrong.json()["field"]) == (422, "status")
    assert (stranger.status, stranger.json()["field"]) == (422, "assignee")
    assert (long_tag.status, long_tag.json()["field"]) == (422, "tags.1")


def test_it_starts_a_ticket_with_a_mail_in_the_outbox(api, team):
    answer = api.nora.post(
        "tickets",
        {
            "mailbox": "north",
            "to": ["Dora <dora@shop.example>"],
            "cc": ["eve@shop.example"],
            "subject": "Your return",
            "body_text": "We got the parcel.",
        },
    )

    assert answer.status == 201
    created = answer.json()
    assert answer.headers["Location"] == f"/api/v1/tickets/{created['ticket']['number']}"
    assert created["ticket"]["status"] == "open"
    assert created["outbox"]["to"] == ["dora@shop.example"]
    assert created["outbox"]["cc"] == ["eve@shop.example"]
    assert created["outbox"]["status"] == "pending" and created["outbox"]["mailbox"] == "north"
    item = OutboxItem.objects.get(pk=created["outbox"]["id"])
    assert item.agent == team.nora and "We got the parcel." in item.outgoing.body_text


def test_it_deletes_a_ticket(api, north_ticket):
    assert api.nora.delete(f"tickets/{north_ticket.number}").status == 204
    assert api.nora.get(f"tickets/{north_ticket.number}").status == 404
    assert not Ticket.objects.filter(pk=north_ticket.pk).exists()
