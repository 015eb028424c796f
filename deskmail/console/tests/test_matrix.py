"""The authorization matrix: each role × each view × mailbox membership.

Ada is an admin, Sam supervises North, Nora works North, Stan works South.
Whoever may not see a mailbox gets 404 for everything of it, and no change
happens; whoever may, gets the page or the change.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deskmail.console.tests.conftest import World
from deskmail.outbound.models import OutboxItem
from deskmail.tickets.models import InternalNote, Ticket

pytestmark = pytest.mark.django_db

SEES = {
    "ada": {"north", "south"},
    "sam": {"north"},
    "nora": {"north"},
    "stan": {"south"},
}


def _ticket(world: World, mailbox: str) -> Ticket:
    return world.ticket if mailbox == "north" else world.south_ticket


def _attachment_url(world: World, ticket: Ticket) -> str:
    message = ticket.messages.order_by("id").first()
    assert message is not None
    attachment = message.attachments.first()
    return f"/attachments/{attachment.pk}/" if attachment else f"/m/{message.pk}/raw.eml"


# (name, method, url(world, ticket), data, did_it(world, ticket) or None)
VIEWS: list[tuple[str, str, Callable[..., str], dict[str, str], Callable[..., bool] | None]] = [
    ("open the ticket", "get", lambda w, t: f"/t/{t.number}/", {}, None),
    ("read it as a supervisor", "get", lambda w, t: f"/t/{t.number}/?spy=1", {}, None),
    (
        "see a mail's HTML",
        "get",
        lambda w, t: f"/m/{t.messages.order_by('id').first().pk}/body/",
        {},
        None,
    ),
    (
        "see why a mail is here",
        "get",
        lambda w, t: f"/m/{t.messages.order_by('id').first().pk}/trace/",
        {},
        None,
    ),
    ("download a file", "get", _attachment_url, {}, None),
    ("download the thread", "get", lambda w, t: f"/t/{t.number}/thread.zip", {}, None),
    ("see who replies", "get", lambda w, t: f"/t/{t.number}/presence/", {}, None),
    (
        "reply",
        "post",
        lambda w, t: f"/t/{t.number}/reply/",
        {"to": "ann@acme.example", "body": "Matrix reply"},
        lambda w, t: OutboxItem.objects.filter(
            ticket=t, outgoing__reply_text="Matrix reply"
        ).exists(),
    ),
    (
        "add a note",
        "post",
        lambda w, t: f"/t/{t.number}/note/",
        {"body": "Matrix note"},
        lambda w, t: InternalNote.objects.filter(ticket=t, body="Matrix note").exists(),
    ),
    (
        "change the status",
        "post",
        lambda w, t: f"/t/{t.number}/field/status/",
        {"status": "pending"},
        lambda w, t: Ticket.objects.get(pk=t.pk).status == "pending",
    ),
    (
        "snooze",
        "post",
        lambda w, t: f"/t/{t.number}/snooze/",
        {"when": "week"},
        lambda w, t: Ticket.objects.get(pk=t.pk).snoozed_until is not None,
    ),
    (
        "delete",
        "post",
        lambda w, t: f"/t/{t.number}/delete/",
        {"confirmed": "True"},
        lambda w, t: not Ticket.objects.filter(pk=t.pk).exists(),
    ),
]


@pytest.mark.parametrize("mailbox", ["north", "south"])
@pytest.mark.parametrize("person", sorted(SEES))
@pytest.mark.parametrize("view", VIEWS, ids=[v[0] for v in VIEWS])
def test_the_matrix(world: World, person, mailbox, view):
    name, method, url, data, did_it = view
    ticket = _ticket(world, mailbox)
    client = world.client(getattr(world.team, person))
    allowed = mailbox in SEES[person]

    response = getattr(client, method)(url(world, ticket), data)

    if allowed:
        assert response.status_code in (200, 302), (person, name, response.status_code)
        if did_it is not None:
            assert did_it(world, ticket), (person, name)
    else:
        assert response.status_code == 404, (person, name, response.status_code)
        if did_it is not None:
            assert not did_it(world, ticket), (person, name)


@pytest.mark.parametrize(("person", "listed"), [(p, SEES[p]) for p in sorted(SEES)])
def test_the_list_search_counts_and_export_show_only_the_persons_mailboxes(world, person, listed):
    client = world.client(getattr(world.team, person))
    numbers = {"north": world.ticket.number, "south": world.south_ticket.number}

    page = client.get("/tickets/?view=all&q=question invoice").content.decode()
    export = client.post(
        "/tickets/export.csv", {"tickets": list(numbers.values())}
    ).content.decode()

    for mailbox, number in numbers.items():
        shown = (
            f'name="tickets" value="{number}"' in client.get("/tickets/?view=all").content.decode()
        )
        exported = f"\n{number}," in export
        assert shown == exported == (mailbox in listed), (person, mailbox)
    assert "Invoice" not in page or "north" in listed


@pytest.mark.parametrize(
    ("person", "team_page", "settings"),
    [("ada", 200, 200), ("sam", 200, 200), ("nora", 404, 404), ("stan", 404, 404)],
)
def test_only_supervisors_and_admins_see_the_team_and_its_settings(
    world, person, team_page, settings
):
    client = world.client(getattr(world.team, person))

    assert client.get("/team/").status_code == team_page
    assert client.get("/settings/notifications/").status_code == settings


@pytest.mark.parametrize(("person", "read_only"), [("ada", True), ("sam", True), ("nora", False)])
def test_only_supervisors_get_the_read_only_look(world, person, read_only):
    page = world.client(getattr(world.team, person)).get(f"/t/{world.ticket.number}/?spy=1")

    assert ("Read-only view (supervisor)" in page.content.decode()) == read_only


def test_admins_add_people_and_teams_in_the_console(world: World):
    ada = world.client(world.team.ada)

    created = ada.post(
        "/people/",
        {
            "create": "1",
            "email": "Olga@Helpdesk.example",
            "role": "agent",
            "mailboxes": ["north"],
            "password": "a long enough passphrase 9",
        },
    )
    assert created.status_code == 302
    ada.post(
        "/people/",
        {"team": "1", "mailbox": "south", "email": "olga@helpdesk.example", "role": "agent"},
    )
    from deskmail.services import access
    from deskmail.services.people import find_user

    olga = access.actor_for(find_user("olga@helpdesk.example"))
    assert olga.agent_of == {world.team.north.pk, world.team.south.pk}
    ada.post(
        "/people/",
        {
            "team": "1",
            "remove": "True",
            "mailbox": "north",
            "email": "olga@helpdesk.example",
            "role": "agent",
        },
    )
    olga = access.actor_for(find_user("olga@helpdesk.example"))
    assert olga.agent_of == {world.team.south.pk}
    assert world.client(world.team.sam).get("/people/").status_code == 404
    assert world.client(world.team.sam).post("/people/", {"create": "1"}).status_code == 404
