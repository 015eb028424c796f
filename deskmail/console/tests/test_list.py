"""The ticket list: views and counts, filters, advanced and full-text search, pages, bulk."""

from __future__ import annotations

import csv
import io
import re

import pytest

from deskmail.console.tests.conftest import NORTH_SECRET, World, north_mail
from deskmail.services import actions, reading
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _numbers(response) -> list[int]:
    return [int(n) for n in re.findall(rb'name="tickets" value="(\d+)"', response.content)]


@pytest.fixture
def nora(world: World):
    return world.client(world.team.nora)


def test_it_lists_only_the_tickets_of_the_persons_mailboxes(world: World):
    stan = world.client(world.team.stan).get("/tickets/?view=all")
    ada = world.client(world.team.ada).get("/tickets/?view=all")

    assert _numbers(stan) == [world.south_ticket.number]
    assert sorted(_numbers(ada)) == sorted([world.ticket.number, world.south_ticket.number])
    assert NORTH_SECRET.encode() not in stan.content


def test_it_counts_each_view_for_the_person(world: World, nora):
    actions.assign(world.team.actor(world.team.nora), world.ticket, world.team.nora.pk)
    page = nora.get("/tickets/").content.decode()

    def count(view: str) -> int:
        found = re.search(
            rf'view={view}"[^>]*>[^<]+<span class="count">(?:<b[^>]*>\d+</b> / )?(\d+)', page
        )
        assert found is not None, view
        return int(found.group(1))

    assert count("mine") == 1 and count("unassigned") == 0 and count("open") == 1


def test_it_shows_views_mine_unassigned_pending_closed(world: World, nora):
    second = north_mail(world.team, subject="Second")
    nora_actor = world.team.actor(world.team.nora)
    actions.assign(nora_actor, world.ticket, world.team.nora.pk)
    actions.set_status(nora_actor, second, "pending")

    assert _numbers(nora.get("/tickets/?view=mine")) == [world.ticket.number]
    assert _numbers(nora.get("/tickets/?view=unassigned")) == [second.number]
    assert _numbers(nora.get("/tickets/?view=pending")) == [second.number]
    actions.set_status(nora_actor, second, "closed")
    assert _numbers(nora.get("/tickets/?view=closed")) == [second.number]


def test_it_shows_unread_per_person(world: World, nora):
    assert b"unread-badge" in nora.get("/tickets/").content
    reading.mark_read(world.team.actor(world.team.nora), world.ticket)

    assert b"unread-badge" not in nora.get("/tickets/").content
    assert _numbers(nora.get("/tickets/?read=unread")) == []
    assert _numbers(nora.get("/tickets/?read=read")) == [world.ticket.number]
    # Sam has not read it.
    assert b"unread-badge" in world.client(world.team.sam).get("/tickets/").content


def test_it_filters_by_status_priority_agent_tags_and_dates(world: World, nora):
    other = north_mail(world.team, subject="Other")
    nora_actor = world.team.actor(world.team.nora)
    actions.set_tags(nora_actor, other, add=["vip"])
    Ticket.objects.filter(pk=other.pk).update(priority="high")
    actions.assign(nora_actor, other, world.team.nora.pk)

    assert _numbers(nora.get("/tickets/?priority=high")) == [other.number]
    assert _numbers(nora.get("/tickets/?tags=vip")) == [other.number]
    assert _numbers(nora.get(f"/tickets/?assignee={world.team.nora.pk}")) == [other.number]
    assert _numbers(nora.get("/tickets/?status=new&status=open")) == [
        other.number,
        world.ticket.number,
    ]
    assert _numbers(nora.get("/tickets/?created_from=2000-01-01&created_to=2000-01-02")) == []
    assert len(_numbers(nora.get("/tickets/?created_from=2000-01-01"))) == 2


def test_it_refuses_a_filter_it_does_not_know_with_words(world: World, nora):
    response = nora.get("/tickets/?status=lost")

    assert response.status_code == 200 and b"Some filters are not valid" in response.content


def test_it_searches_the_full_text_of_subjects_bodies_and_senders(world: World, nora):
    north_mail(world.team, subject="Toner", body="The cartridge leaks magenta ink")
    north_mail(world.team, subject="Login", sender="Bert <bert@widgets.example>")

    def titles(query: str) -> list[str]:
        page = nora.get("/tickets/", {"q": query}).content.decode()
        return [t.title for t in Ticket.objects.filter(number__in=_numbers_text(page))]

    assert titles("magent") == ["Toner"]
    assert titles("cartridge leaks") == ["Toner"]
    assert titles("widgets.example") == ["Login"]
    assert titles("bert") == ["Login"]
    assert titles("nothing-like-this") == []


def _numbers_text(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'name="tickets" value="(\d+)"', page)]


def _conditions(*rows: tuple[str, str, str, bool], match: str = "all") -> dict[str, str]:
    data = {"c-TOTAL_FORMS": str(len(rows)), "c-INITIAL_FORMS": "0", "match": match}
    for index, (field, operator, value, enabled) in enumerate(rows):
        data |= {f"c-{index}-field": field, f"c-{index}-operator": operator}
        data[f"c-{index}-value"] = value
        if enabled:
            data[f"c-{index}-enabled"] = "on"
    return data


def test_it_searches_by_conditions_all_or_any(world: World, nora):
    toner = north_mail(world.team, subject="Toner empty")
    rows = (("subject", "starts_with", "toner", True), ("subject", "contains", "invoice", True))

    assert _numbers(nora.get("/tickets/", _conditions(*rows, match="all"))) == []
    assert sorted(_numbers(nora.get("/tickets/", _conditions(*rows, match="any")))) == [
        world.ticket.number,
        toner.number,
    ]


def test_it_ignores_a_disabled_condition_but_keeps_it_in_the_form(world: World, nora):
    north_mail(world.team, subject="Toner empty")
    data = _conditions(("subject", "equals", "toner empty", False))

    response = nora.get("/tickets/", data)

    assert len(_numbers(response)) == 2
    assert b'value="toner empty"' in response.content


def test_it_adds_removes_and_clears_conditions(world: World, nora):
    data = _conditions(("subject", "contains", "invoice", True), ("status", "equals", "new", True))

    added = nora.get("/tickets/", {**data, "add": "1"}).content.decode()
    assert 'name="c-TOTAL_FORMS" value="3"' in added
    removed = nora.get("/tickets/", {**data, "remove": "0"}).content.decode()
    assert 'name="c-TOTAL_FORMS" value="1"' in removed and 'value="invoice"' not in removed
    cleared = nora.get("/tickets/", {**data, "clear": "1"}).content.decode()
    assert 'name="c-TOTAL_FORMS" value="0"' in cleared


def test_it_searches_dates_before_and_after_and_empty_fields(world: World, nora):
    def found(field: str, operator: str, value: str) -> list[int]:
        return _numbers(nora.get("/tickets/", _conditions((field, operator, value, True))))

    assert found("created", "before", "2100-01-01") == [world.ticket.number]
    assert found("created", "after", "2100-01-01") == []
    assert found("created", "after", "2000-01-01") == [world.ticket.number]
    assert found("created", "before", "2000-01-01") == []
    assert _numbers(nora.get("/tickets/", _conditions(("tag", "is_empty", "", True)))) == [
        world.ticket.number
    ]


def test_it_explains_a_condition_it_cannot_use(world: World, nora):
    response = nora.get("/tickets/", _conditions(("created", "after", "yesterday", True)))

    assert b"is not a date like 2026-03-31" in response.content


def test_it_pages_by_cursor(world: World, nora, monkeypatch):
    from deskmail.console.views import lists

    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    for n in range(4):
        north_mail(world.team, subject=f"Many {n}")
    pages, url = [], "/tickets/"
    while url:
        response = nora.get(url)
        pages.append(_numbers(response))
        link = re.search(rb'href="([^"]+)"[^>]*rel="next"', response.content)
        url = link.group(1).decode().replace("&amp;", "&") if link else ""

    seen = [n for page in pages for n in page]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 5


def test_it_answers_htmx_with_the_list_alone(world: World, nora):
    response = nora.get("/tickets/?view=all", headers={"HX-Request": "true"})

    assert response.content.lstrip().startswith(b'<div id="workspace"')
    assert b"<html" not in response.content
    assert response["HX-Push-Url"] == "/tickets/?view=all"


def test_it_assigns_sets_status_and_tags_the_selected(world: World, nora):
    other = north_mail(world.team, subject="Other")
    numbers = [world.ticket.number, other.number, world.south_ticket.number]
    base = {"tickets": numbers, "back": "/tickets/?view=all"}

    response = nora.post(
        "/tickets/bulk/", {**base, "action": "assign", "assignee": world.team.nora.pk}
    )
    assert response["Location"] == "/tickets/?view=all"
    nora.post("/tickets/bulk/", {**base, "action": "status", "status": "pending"})
    nora.post("/tickets/bulk/", {**base, "action": "tag", "tag": "billing"})

    for ticket in (world.ticket, other):
        ticket.refresh_from_db()
        assert ticket.assignee == world.team.nora and ticket.status == "pending"
        assert list(ticket.tags.values_list("name", flat=True)) == ["billing"]
    world.south_ticket.refresh_from_db()
    assert world.south_ticket.assignee is None and world.south_ticket.status == "new"
    messages = [str(m) for m in nora.get("/tickets/").context["messages"]]
    assert "Tagged 2 tickets; 1 skipped (not found)." in messages


def test_it_deletes_the_selected_only_after_a_confirmation_naming_how_many(world: World, nora):
    other = north_mail(world.team, subject="Other")
    data = {"tickets": [world.ticket.number, other.number], "action": "delete"}

    asked = nora.post("/tickets/bulk/", data)
    assert asked.status_code == 200 and b"Delete 2 tickets?" in asked.content
    assert Ticket.objects.filter(number__in=data["tickets"]).count() == 2

    nora.post("/tickets/bulk/", {**data, "confirmed": "True"})
    assert not Ticket.objects.filter(number__in=data["tickets"]).exists()


def test_it_downloads_the_selected_as_csv_without_formulas(world: World, nora):
    formula = north_mail(world.team, subject='=HYPERLINK("http://evil.example")')
    numbers = [world.ticket.number, formula.number, world.south_ticket.number]

    response = nora.post("/tickets/export.csv", {"tickets": numbers})

    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="tickets-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(r["number"]) for r in rows] == [world.ticket.number, formula.number]
    assert rows[1]["subject"].startswith("'=HYPERLINK")
    assert rows[0]["mailbox"] == "north"


def test_the_full_text_index_follows_edits_and_deletions(world: World, nora):
    from django.db import connection

    from deskmail.services.search import message_ids_matching
    from deskmail.tickets.models import Message

    ticket = north_mail(world.team, subject="Indexed", body="original wording here")
    message = ticket.messages.get()

    def matching(word: str) -> list[int]:
        query = message_ids_matching(word)
        assert query is not None
        return list(Message.objects.filter(id__in=query).values_list("id", flat=True))

    assert matching("original") == [message.pk]
    message.body_text = "replacement wording"
    message.save(update_fields=["body_text"])
    assert matching("original") == [] and matching("replacement") == [message.pk]
    ticket.delete()
    assert matching("replacement") == []
    if connection.vendor == "sqlite":  # the index itself forgot it, not only the join
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM tickets_message_fts WHERE tickets_message_fts MATCH ?",
                ['"replacement"'],
            )
            assert cursor.fetchone()[0] == 0
