"""The admins' email accounts pages: the list, one account, on and off, deleting."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from deskmail.console.tests.conftest import World, north_mail
from deskmail.mailboxes.models import Mailbox
from deskmail.services import access, mailbox_admin
from deskmail.services.errors import Forbidden, Invalid
from deskmail.testing.builders import make_mailbox
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db


def test_only_admins_see_the_accounts_pages(world: World):
    team = world.team
    for person in (team.nora, team.sam, team.stan):
        client = world.client(person)
        for url in ("/accounts/", "/accounts/north/", "/accounts/north/delete/"):
            assert client.get(url).status_code == 404, (person, url)
        assert client.post("/accounts/north/switch/", {"enabled": "false"}).status_code == 404
    assert Mailbox.objects.get(name="north").status == "active"
    with pytest.raises(Forbidden):
        mailbox_admin.accounts(team.actor(team.sam))


def test_the_list_shows_each_account_with_its_health_and_team(world: World):
    team = world.team
    Mailbox.objects.filter(name="south").update(
        status="failed",
        failed_reason="IMAP login refused: [AUTHENTICATIONFAILED] Authentication failed.",
    )
    Mailbox.objects.filter(name="north").update(last_sync_at=timezone.now())
    page = world.client(team.ada).get("/accounts/").content.decode()

    assert 'href="/accounts/"' in page  # in the navigation
    assert "north@helpdesk.example" in page and "[AUTHENTICATIONFAILED]" in page
    assert 'title="IMAP login refused: [AUTHENTICATIONFAILED] Authentication failed."' in page
    assert "nora@helpdesk.example" in page and "sam@helpdesk.example (supervisor)" in page
    assert "IMAP with SMTP" in page or "not set up" in page
    assert "receive and send" in page
    row = mailbox_admin.account(team.actor(team.ada), "north")
    assert row.tickets == 1 and row.agents == [
        "nora@helpdesk.example",
        "sam@helpdesk.example (supervisor)",
    ]


def test_the_navigation_offers_accounts_to_admins_only(world: World):
    assert 'href="/accounts/"' not in world.client(world.team.sam).get("/tickets/").content.decode()
    assert 'href="/accounts/"' in world.client(world.team.ada).get("/tickets/").content.decode()


def test_the_detail_page_says_why_an_account_failed(world: World):
    Mailbox.objects.filter(name="south").update(status="failed", failed_reason="the server said no")
    page = world.client(world.team.ada).get("/accounts/south/").content.decode()
    assert "Why it failed" in page and "the server said no" in page


def test_an_admin_disables_and_enables_an_account(world: World):
    client = world.client(world.team.ada)
    response = client.post("/accounts/north/switch/", {"enabled": "false"})
    assert response.status_code == 302
    assert Mailbox.objects.get(name="north").status == "disabled"
    client.post("/accounts/north/switch/", {"enabled": "true"})
    assert Mailbox.objects.get(name="north").status == "active"


def test_deleting_an_account_with_tickets_is_refused_and_says_why(world: World):
    client = world.client(world.team.ada)
    confirm = client.get("/accounts/north/delete/").content.decode()
    assert "has 1 ticket" in confirm and "Disable it instead" in confirm

    response = client.post("/accounts/north/delete/")

    assert response.status_code == 422 and Mailbox.objects.filter(name="north").exists()
    assert north_mail(world.team, subject="still arriving").mailbox.name == "north"


def test_an_account_without_tickets_is_deleted_after_confirming(team: Team):
    make_mailbox("spare", "SPA", "spare@helpdesk.example")
    client = Client()
    client.force_login(team.ada)
    assert "has no tickets" in client.get("/accounts/spare/delete/").content.decode()

    assert client.post("/accounts/spare/delete/").status_code == 302

    assert not Mailbox.objects.filter(name="spare").exists()
    north_mail(team)
    with pytest.raises(Invalid, match="1 ticket"):
        mailbox_admin.delete(access.SYSTEM, "north")
