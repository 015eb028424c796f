"""The admins' email accounts pages: the list, one account, on and off, deleting."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django import forms
from django.db import connection
from django.test import Client
from django.utils import timezone

from deskmail.console.tests.conftest import World, north_mail
from deskmail.mailboxes.exporting import export_yaml
from deskmail.mailboxes.loading import load_mailboxes
from deskmail.mailboxes.models import Mailbox, OAuthGrant
from deskmail.services import access, mailbox_admin
from deskmail.services.errors import Forbidden, Invalid
from deskmail.testing.builders import make_google_sign_in, make_mailbox
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


# -- adding and changing ------------------------------------------------------------------

IMAP_FORM = {
    "name": "sales",
    "key": "SAL",
    "address": "sales@helpdesk.example",
    "display_name": "Sales",
    "purpose": "receive_send",
    "status": "draft",
    "sign_in": "password",
    "username": "",
    "password": "s3cret-pass-word",
    "service": "custom",
    "in_host": "imap.helpdesk.example",
    "in_port": "993",
    "in_security": "ssl",
    "out_host": "smtp.helpdesk.example",
    "out_port": "465",
    "out_security": "ssl",
    "folder": "INBOX",
    "sync_since": "2026-01-01",
    "poll_seconds": "120",
    "connect_timeout_s": "10",
    "auth_timeout_s": "5",
    "save": "1",
}


def _admin(team: Team) -> Client:
    client = Client()
    client.force_login(team.ada)
    return client


def test_an_admin_adds_an_imap_account_and_its_password_is_stored_encrypted(team: Team):
    client = _admin(team)
    assert "on-premises Exchange Server only" in client.get("/accounts/new/").content.decode()

    response = client.post("/accounts/new/imap/", IMAP_FORM)

    assert response.status_code == 302 and response["Location"] == "/accounts/sales/"
    sales = Mailbox.objects.get(name="sales")
    settings = sales.settings
    assert settings.inbound is not None and settings.outbound is not None
    assert (settings.inbound.host, settings.inbound.port, settings.inbound.security) == (
        "imap.helpdesk.example",
        993,
        "ssl",
    )
    assert settings.inbound.username == "sales@helpdesk.example"  # defaults to the address
    assert settings.inbound.poll_seconds == 120 and str(settings.inbound.sync_since) == "2026-01-01"
    assert settings.outbound.host == "smtp.helpdesk.example" and sales.status == "draft"
    assert sales.inbound_secret == "s3cret-pass-word" == sales.outbound_secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT inbound_secret FROM mailboxes_mailbox WHERE name = 'sales'")
        assert "s3cret-pass-word" not in cursor.fetchone()[0]
    for url in ("/accounts/sales/", "/accounts/sales/edit/", "/accounts/"):
        assert "s3cret-pass-word" not in client.get(url).content.decode()


def test_a_wrong_field_is_named_and_nothing_is_saved(team: Team):
    client = _admin(team)
    wrong = {**IMAP_FORM, "in_host": "", "in_port": "70000", "key": "NO"}  # NO is North's

    response = client.post("/accounts/new/imap/", wrong)

    assert response.status_code == 422
    form = response.context["form"]
    assert "in_port" in form.errors and "less than or equal to 65535" in " ".join(
        form.errors["in_port"]
    )
    assert not Mailbox.objects.filter(name="sales").exists()
    response = client.post("/accounts/new/imap/", {**wrong, "in_port": "993"})
    form = response.context["form"]
    assert "host is required for imap" in " ".join(form.errors["in_host"])
    response = client.post("/accounts/new/imap/", {**wrong, "in_port": "993", "in_host": "x"})
    assert "already the key of mailbox 'north'" in " ".join(response.context["form"].errors["key"])
    assert not Mailbox.objects.filter(name="sales").exists()


def test_a_service_preset_fills_in_the_servers(team: Team):
    response = _admin(team).post(
        "/accounts/new/pop3/", {**IMAP_FORM, "service": "gmail", "fill": "1"}
    )
    form = response.context["form"]
    assert response.status_code == 200 and not form.errors
    page = response.content.decode()
    assert 'value="pop.gmail.com"' in page and 'value="995"' in page
    assert 'value="smtp.gmail.com"' in page and "recent:" in page


def test_a_saved_account_round_trips_through_yaml_export_and_load(team: Team):
    client = _admin(team)
    client.post("/accounts/new/imap/", {**IMAP_FORM, "status": "active"})
    before = Mailbox.objects.get(name="sales")

    text = export_yaml([before])
    outcomes = load_mailboxes(text, "export.yaml", environ={})

    assert [o.action for o in outcomes] == ["unchanged"]
    after = Mailbox.objects.get(name="sales")
    assert after.config == before.config and after.inbound_secret == "s3cret-pass-word"
    assert after.status == "active"


def test_editing_keeps_the_stored_password_and_other_settings(team: Team):
    client = _admin(team)
    client.post("/accounts/new/imap/", IMAP_FORM)
    Mailbox.objects.filter(name="sales").update(
        config={**Mailbox.objects.get(name="sales").config, "aliases": ["buy@helpdesk.example"]}
    )
    data = _edit_data(client, "sales")
    data |= {"password": "", "poll_seconds": "30", "save": "1"}

    response = client.post("/accounts/sales/edit/", {**IMAP_FORM, **data, "name": "ignored"})

    assert response.status_code == 302, response.context["form"].errors
    sales = Mailbox.objects.get(name="sales")
    assert sales.settings.inbound is not None and sales.settings.inbound.poll_seconds == 30
    assert sales.inbound_secret == "s3cret-pass-word"
    assert sales.settings.aliases == ["buy@helpdesk.example"]
    assert not Mailbox.objects.filter(name="ignored").exists()


def test_every_kind_of_account_has_its_form(team: Team):
    client = _admin(team)
    for kind, expected in [
        ("graph", "OAuth client (application) id"),
        ("graph_shared", "Shared mailbox address"),
        ("gmail", "Connect with Google"),
        ("ews", "EWS URL"),
        ("imap", "Incoming server"),
        ("pop3", "recent:"),
        ("forward", "Business address"),
    ]:
        page = client.get(f"/accounts/new/{kind}/").content.decode()
        assert expected in page, kind
    assert client.get("/accounts/new/fax/").status_code == 404
    # A mailbox loaded from YAML without any inbound settings yet opens too.
    assert client.get("/accounts/north/edit/").status_code == 200


def _edit_data(client: Client, name: str) -> dict[str, Any]:
    """What the edit page posts when nothing is changed (unticked boxes are not sent)."""
    response = client.get(f"/accounts/{name}/edit/")
    data: dict[str, Any] = {}
    for form in (response.context["form"], response.context["more"]):
        for key, field in form.fields.items():
            value = form[key].value()
            if isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif value is not None:
                data[key] = value
    return data


def test_the_edit_page_changes_the_mailboxs_settings_in_sections_of_the_schema(team: Team):
    client = _admin(team)
    client.post("/accounts/new/imap/", IMAP_FORM)
    page = client.get("/accounts/sales/edit/").content.decode()
    for title in ("Reading", "Filters", "Tickets", "Threading", "Replies"):
        assert f"<legend>{title}</legend>" in page
    data = _edit_data(client, "sales")
    data |= {
        "threading__reply_to_closed": "new_ticket",
        "replies__max_attachments": "3",
        "filters__blocked_senders": "Spam@Example.com\nads@example.com",
        "tickets__queue": "Sales",
        "inbound__after_fetch": "move:Processed",
        "save": "1",
    }
    data.pop("replies__auto_acknowledge", None)
    data["replies__auto_acknowledge"] = "on"

    response = client.post("/accounts/sales/edit/", data)

    assert response.status_code == 302, response.context["more"].errors
    settings = Mailbox.objects.get(name="sales").settings
    assert settings.threading.reply_to_closed == "new_ticket"
    assert settings.replies.max_attachments == 3 and settings.replies.auto_acknowledge
    assert settings.filters.blocked_senders == ["spam@example.com", "ads@example.com"]
    assert settings.tickets.queue == "Sales" and settings.inbound is not None
    assert settings.inbound.after_fetch == "move:Processed"
    assert settings.inbound.host == "imap.helpdesk.example"  # the connection is untouched
    before = Mailbox.objects.get(name="sales")
    load_mailboxes(export_yaml([before]), "export.yaml", environ={})
    assert Mailbox.objects.get(name="sales").config == before.config


def test_a_wrong_setting_is_named_by_the_schemas_own_words(team: Team):
    client = _admin(team)
    client.post("/accounts/new/imap/", IMAP_FORM)
    data = _edit_data(client, "sales") | {
        "replies__max_attachments": "-1",
        "inbound__after_fetch": "shred",
        "save": "1",
    }

    response = client.post("/accounts/sales/edit/", data)

    assert response.status_code == 422
    errors = response.context["more"].errors
    assert "greater than or equal to 0" in " ".join(errors["replies__max_attachments"])
    assert "expected mark_seen" in " ".join(errors["inbound__after_fetch"])
    assert Mailbox.objects.get(name="sales").settings.replies.max_attachments == 10


def test_an_account_whose_name_needs_quoting_in_addresses_works(team: Team):
    client = _admin(team)
    response = client.post("/accounts/new/imap/", {**IMAP_FORM, "name": "sales & more?"})
    assert response["Location"] == "/accounts/sales%20&%20more%3F/"
    assert client.get(response["Location"]).status_code == 200
    page = client.get("/accounts/").content.decode()
    assert 'href="/accounts/sales%20%26%20more%3F/edit/"' in page
    assert client.get("/accounts/sales%20%26%20more%3F/edit/").status_code == 200


def test_an_account_whose_stored_settings_no_longer_validate_is_still_listed(team: Team):
    Mailbox.objects.filter(name="south").update(config={"inbound": {"protocol": "fax"}})
    client = _admin(team)

    assert "invalid configuration" in client.get("/accounts/").content.decode()
    response = client.get("/accounts/south/edit/", follow=True)
    assert "no longer pass the schema" in response.content.decode()


def test_a_pop3_account_is_saved_with_the_schemas_defaults_shown_first(team: Team):
    client = _admin(team)
    page = client.get("/accounts/new/pop3/").content.decode()
    assert 'name="poll_seconds" value="60"' in page and 'name="folder"' not in page

    form = {**IMAP_FORM, "in_host": "pop.helpdesk.example", "in_port": "995"}
    form.pop("folder")
    assert client.post("/accounts/new/pop3/", form).status_code == 302

    inbound = Mailbox.objects.get(name="sales").settings.inbound
    assert inbound is not None and (inbound.protocol, inbound.port) == ("pop3", 995)


def test_a_sign_in_ending_soon_shows_its_end_and_reauthorize_until_signed_in_again(team: Team):
    now = timezone.now()
    ending = make_google_sign_in("gmail", now - dt.timedelta(days=5))
    make_google_sign_in("fresh", now)
    client = _admin(team)
    ends_on = f'Sign-in ends on <time datetime="{ending.refresh_expires_at.isoformat()}">'
    reauthorize = (
        '<a href="/accounts/gmail/connect/" aria-label="Reauthorize gmail before its '
        'sign-in ends">Reauthorize</a>'
    )

    listed = client.get("/accounts/").content.decode()
    assert listed.count("Sign-in ends on") == 1
    assert ends_on in listed and reauthorize in listed
    detail = client.get("/accounts/gmail/").content.decode()
    assert ends_on in detail and reauthorize in detail
    assert "Sign-in ends on" not in client.get("/accounts/fresh/").content.decode()

    OAuthGrant.objects.filter(pk=ending.pk).update(
        status=OAuthGrant.Status.REAUTHORIZE, error="Token has been expired or revoked."
    )
    ended = client.get("/accounts/gmail/").content.decode()
    assert "Sign-in ends on" not in ended
    assert "refused by the provider: Token has been expired or revoked." in ended
    assert 'href="/accounts/gmail/connect/"' in ended and ">Reauthorize</a>" in ended
