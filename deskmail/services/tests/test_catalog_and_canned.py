"""Queues, tags, contacts and canned answers, each within what the person may see."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest
from deskmail.outbound.models import CannedAnswer
from deskmail.services import actions, canned, catalog
from deskmail.services.errors import Forbidden, Invalid, NotFound
from deskmail.testing.builders import make_email

pytestmark = pytest.mark.django_db


def _ticket(mailbox, sender):
    return ingest(mailbox, make_email(to=mailbox.address, sender=sender)).ticket


def test_it_shows_contacts_and_tags_of_visible_tickets_only(team):
    north = _ticket(team.north, "Ann <ann@acme.example>")
    south = _ticket(team.south, "Bob <bob@other.example>")
    actions.set_tags(team.actor(team.nora), north, add=["north-only"])
    actions.set_tags(team.actor(team.stan), south, add=["south-only"])
    stan = team.actor(team.stan)

    assert [c.address for c in catalog.contacts(stan)] == ["bob@other.example"]
    assert [t.name for t in catalog.tags(stan)] == ["south-only"]
    assert {c.address for c in catalog.contacts(team.actor(team.ada), "acme")} == {
        "ann@acme.example"
    }
    with pytest.raises(NotFound):
        catalog.contact(stan, north.contact_id)


def test_it_pages_contacts_by_cursor(team):
    for n in range(5):
        _ticket(team.north, f"c{n}@acme.example")
    ada = team.actor(team.ada)

    first = catalog.contact_page(ada, limit=3)
    second = catalog.contact_page(ada, limit=3, after=first.next_cursor)

    assert len(first.items) == 3 and len(second.items) == 2 and second.next_cursor is None
    with pytest.raises(Invalid):
        catalog.contact_page(ada, after="not-a-cursor")


def test_canned_answers_are_written_by_admins_and_used_within_their_mailbox(team):
    ada, nora = team.actor(team.ada), team.actor(team.nora)
    mine = canned.create(
        ada, name="Thanks", body="Thanks, {{ contact.first_name }}!", mailbox="north"
    )
    canned.create(ada, name="Hello", body="Hello from {{ mailbox.name }}")
    theirs = canned.create(ada, name="South only", body="x", mailbox="south")
    north = _ticket(team.north, "Ann Customer <ann@acme.example>")

    assert {a.name for a in canned.answers(nora)} == {"Thanks", "Hello"}
    assert canned.text_for(nora, north, mine.pk) == "Thanks, Ann!"
    with pytest.raises(Invalid) as other_mailbox:
        canned.text_for(nora, north, theirs.pk)
    assert other_mailbox.value.field == "canned_answer"
    with pytest.raises(NotFound):
        canned.answer(nora, theirs.pk)
    with pytest.raises(Forbidden):
        canned.create(nora, name="Mine", body="x", mailbox="north")
    with pytest.raises(Invalid) as twice:
        canned.create(ada, name="Thanks", body="again", mailbox="north")
    assert twice.value.field == "name"
    with pytest.raises(Invalid) as broken:
        canned.create(ada, name="Broken", body="{% if %}")
    assert broken.value.field == "body"
    assert CannedAnswer.objects.count() == 3
