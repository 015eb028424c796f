"""Admins edit a mailbox's routing and triggers in the console, as YAML checked like a
file is, and try it on an email before saving."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from deskmail.ingest.api import ingest
from deskmail.mailboxes.models import Mailbox
from deskmail.testing.browser import Console, assert_named_controls
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.django_db

VIP = """\
actions:
  - queue: Front desk
triggers:
  - name: VIP domain
    if:
      sender_domain: [vip.example.com]
    then:
      priority: high
      tags: [vip]
"""


def _admin(team) -> Client:
    client = Client()
    client.force_login(team.ada)
    return client


def _raw(team, sender: str, subject: str) -> str:
    return make_email(to=team.north.address, sender=sender, subject=subject).decode()


def test_saved_routing_routes_the_next_email(team):
    response = _admin(team).post(f"/accounts/{team.north.name}/routing/", {"routing": VIP})

    assert response.status_code == 302
    north = Mailbox.objects.get(pk=team.north.pk)
    result = ingest(north, make_email(to=team.north.address, sender="boss@vip.example.com"))
    assert result.ticket is not None
    result.ticket.refresh_from_db()
    assert result.ticket.priority == "high"
    assert result.ticket.queue is not None and result.ticket.queue.name == "Front desk"
    page = _admin(team).get(f"/accounts/{team.north.name}/routing/").content.decode()
    assert "VIP domain" in page


def test_a_wrong_routing_names_the_line_and_the_field_and_changes_nothing(team):
    before = Mailbox.objects.get(pk=team.north.pk).config
    wrong = VIP.replace("priority: high", "priority: sky-high")

    response = _admin(team).post(f"/accounts/{team.north.name}/routing/", {"routing": wrong})

    assert response.status_code == 422
    page = response.content.decode()
    assert re.search(r"line 8, <code>routing\.triggers\[0\]\.then\.priority</code>", page), page
    assert Mailbox.objects.get(pk=team.north.pk).config == before


def test_text_that_is_not_yaml_names_its_line(team):
    response = _admin(team).post(
        f"/accounts/{team.north.name}/routing/",
        {"routing": "actions:\n  - queue: x\n   bad: : y\ntriggers: []\n"},
    )

    assert response.status_code == 422
    assert "<li>line 3: not valid YAML" in response.content.decode()


def test_trying_shows_every_decision_and_writes_nothing(team):
    before = Mailbox.objects.get(pk=team.north.pk).config
    tickets = Ticket.objects.count()

    response = _admin(team).post(
        f"/accounts/{team.north.name}/routing/",
        {"routing": VIP, "email": _raw(team, "boss@vip.example.com", "Urgent"), "try": ""},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "What would happen: new ticket (Urgent)" in page
    assert "trigger &#x27;VIP domain&#x27; matched (created): priority high" in page
    assert "routed to queue Front desk" in page
    assert Ticket.objects.count() == tickets
    assert Mailbox.objects.get(pk=team.north.pk).config == before


def test_trying_without_an_email_asks_for_one(team):
    response = _admin(team).post(
        f"/accounts/{team.north.name}/routing/", {"routing": VIP, "try": ""}
    )

    assert response.status_code == 422
    assert "paste an email" in response.content.decode()


def test_only_admins_see_or_change_the_routing(team):
    for person in (team.nora, team.stan):
        client = Client()
        client.force_login(person)
        assert client.get(f"/accounts/{team.north.name}/routing/").status_code == 404
        assert (
            client.post(f"/accounts/{team.north.name}/routing/", {"routing": VIP}).status_code
            == 404
        )
    assert Mailbox.objects.get(pk=team.north.pk).settings.routing.triggers == []


@pytest.mark.browser
def test_an_admin_tries_a_trigger_on_an_email_then_saves_it(console: Console, team):
    page = console.sign_in(team.ada)
    page.get_by_role("link", name="Email accounts").click()
    page.get_by_role("link", name=f"Routing of {team.north.name}").click()
    assert_named_controls(page)

    page.get_by_label("Routing and triggers (YAML)").fill(VIP.replace("high", "sky-high"))
    page.get_by_role("button", name="Save").click()
    page.get_by_role("alert").get_by_text("routing.triggers[0].then.priority").wait_for()

    page.get_by_label("Routing and triggers (YAML)").fill(VIP)
    page.get_by_label("An email to try them on (paste its source)").fill(
        _raw(team, "boss@vip.example.com", "Server down")
    )
    page.get_by_role("button", name="Try on this email").click()
    trial = page.get_by_role("region", name=re.compile("What would happen"))
    trial.get_by_text("trigger 'VIP domain' matched (created): priority high").wait_for()
    assert Ticket.objects.filter(title="Server down").count() == 0

    page.get_by_role("button", name="Save").click()
    page.get_by_text(f"Saved the routing of {team.north.name}.").wait_for()
    routing = Mailbox.objects.get(pk=team.north.pk).settings.routing
    assert [t.name for t in routing.triggers] == ["VIP domain"]
