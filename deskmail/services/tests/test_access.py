"""The permission policy: who sees which tickets, and 'not found' for the rest."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest
from deskmail.services import access, actions, queries
from deskmail.services.errors import Forbidden, NotFound
from deskmail.services.queries import TicketFilter
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db


def _ticket(team: Team, mailbox: str, subject: str) -> int:
    box = getattr(team, mailbox)
    result = ingest(box, make_email(to=box.address, subject=subject))
    assert result.ticket is not None
    return result.ticket.number


@pytest.mark.parametrize(
    ("person", "sees"),
    [("ada", {"north", "south"}), ("sam", {"north"}), ("nora", {"north"}), ("stan", {"south"})],
)
def test_it_shows_each_person_the_tickets_of_their_mailboxes_only(team, person, sees):
    north, south = _ticket(team, "north", "North's"), _ticket(team, "south", "South's")
    actor = team.actor(getattr(team, person))

    listed = {t.mailbox.name for t in queries.ticket_page(actor, TicketFilter()).items}
    counted = queries.counts(actor)["all"]
    reachable = set()
    for number, name in ((north, "north"), (south, "south")):
        try:
            access.ticket(actor, number)
            reachable.add(name)
        except NotFound:
            pass

    assert listed == reachable == sees
    assert counted == len(sees)


def test_it_answers_not_found_for_another_mailboxs_ticket_message_and_attachment(team):
    number = _ticket(team, "north", "Secret")
    ticket = access.ticket(access.SYSTEM, number)
    message = ticket.messages.get()
    stan = team.actor(team.stan)

    with pytest.raises(NotFound):
        access.ticket(stan, number)
    with pytest.raises(NotFound):
        access.message(stan, message.pk)
    with pytest.raises(NotFound):
        actions.note(stan, ticket, "I should not be here")
    with pytest.raises(NotFound):
        actions.set_status(stan, ticket, "closed")
    assert access.message(team.actor(team.nora), message.pk) == message


def test_it_keeps_configuration_for_admins(team):
    with pytest.raises(Forbidden):
        access.require_admin(team.actor(team.sam))
    access.require_admin(team.actor(team.ada))


def test_it_refuses_a_stranger(team):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotFound):
        access.actor_for(AnonymousUser())
    team.nora.is_active = False
    team.nora.save()
    with pytest.raises(NotFound):
        access.actor_for(team.nora)
