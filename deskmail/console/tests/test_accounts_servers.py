"""The accounts pages' connection test, against the suite's real Dovecot and Postfix."""

from __future__ import annotations

import html
import socket
from typing import Any

import pytest
from django.test import Client

from deskmail.mailboxes.models import Mailbox, OAuthGrant
from deskmail.testing.mailservers import HOST, PLAINTEXT_HOST, MailAccount, MailServers
from deskmail.testing.personas import Team

pytestmark = [pytest.mark.servers, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def trust_the_test_servers(settings: Any, mail_servers: MailServers) -> None:
    settings.CA_FILE = mail_servers.cafile


def account_form(servers: MailServers, account: MailAccount, **changes: str) -> dict[str, str]:
    return {
        "name": "sales",
        "key": "SAL",
        "address": account.address,
        "purpose": "receive_send",
        "status": "active",
        "sign_in": "password",
        "password": account.password,
        "service": "custom",
        "in_host": servers.host,
        "in_port": str(servers.ports["imap"]),
        "in_security": "starttls",
        "out_host": servers.host,
        "out_port": str(servers.ports.get("submission", servers.ports["imap"])),
        "out_security": "starttls",
        "folder": "INBOX",
        "poll_seconds": "60",
        "connect_timeout_s": "10",
        "auth_timeout_s": "5",
        **changes,
    }


def _admin(team: Team) -> Client:
    client = Client()
    client.force_login(team.ada)
    return client


def test_testing_the_form_logs_in_to_dovecot_and_postfix_and_saves_nothing(
    team: Team, mail_servers: MailServers, mail_account: MailAccount
):
    if not mail_servers.postfix:
        pytest.skip("Postfix needs root")
    response = _admin(team).post(
        "/accounts/new/imap/", {**account_form(mail_servers, mail_account), "test": "1"}
    )

    page = response.content.decode()
    assert response.status_code == 200, response.context["form"].errors
    assert "Incoming: every step passed" in page and "Outgoing: every step passed" in page
    assert f"log in as {mail_account.address}" in page and "messages" in page
    assert not Mailbox.objects.filter(name="sales").exists()


def test_a_wrong_password_shows_dovecots_own_answer(
    team: Team, mail_servers: MailServers, mail_account: MailAccount
):
    form = account_form(mail_servers, mail_account, password="not-the-password", test="1")

    page = _admin(team).post("/accounts/new/imap/", form).content.decode()

    assert "Incoming: failed" in page
    assert "AUTHENTICATIONFAILED" in page and "Check: User name and password" in page
    assert "not-the-password" not in page


def test_an_unknown_host_names_the_host_field(
    team: Team, mail_servers: MailServers, mail_account: MailAccount
):
    form = account_form(mail_servers, mail_account, in_host="imap.nowhere.invalid", test="1")

    page = _admin(team).post("/accounts/new/imap/", form).content.decode()

    assert "imap.nowhere.invalid" in page and "Check: Incoming server" in page


def _closed_port() -> int:
    """A loopback port nothing listens on (taken from the system, then let go)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("case", "says", "check"),
    [
        ("closed port", "Connection refused", "Incoming port"),
        ("ssl on a plain port", "TLS failed", "Incoming security"),
        ("starttls not offered", "does not offer STARTTLS", "Incoming security"),
        (
            "self-signed certificate",
            "certificate is not trusted",
            "Incoming security (the server's certificate is not trusted)",
        ),
    ],
)
def test_a_wrong_port_or_security_setting_names_the_field_to_correct_and_saves_nothing(
    team: Team,
    mail_servers: MailServers,
    mail_account: MailAccount,
    settings: Any,
    case: str,
    says: str,
    check: str,
):
    changes = {
        "closed port": {"in_port": str(_closed_port())},
        "ssl on a plain port": {"in_security": "ssl"},
        "starttls not offered": {"in_host": PLAINTEXT_HOST},
        "self-signed certificate": {
            "in_security": "ssl",
            "in_port": str(mail_servers.ports["imaps"]),
        },
    }[case]
    if case == "self-signed certificate":
        settings.CA_FILE = None  # the system's CAs: the suite's own certificate is self-signed
    form = account_form(mail_servers, mail_account, purpose="receive", test="1", **changes)

    page = _admin(team).post("/accounts/new/imap/", form).content.decode()

    assert "Incoming: failed" in page
    shown = html.unescape(page)
    assert says in shown and f"Check: {check}</span>" in shown
    assert not Mailbox.objects.filter(name="sales").exists()


def test_implicit_tls_against_postfixs_starttls_port_names_the_outgoing_security(
    team: Team, mail_servers: MailServers, mail_account: MailAccount
):
    if not mail_servers.postfix:
        pytest.skip("Postfix needs root")
    form = account_form(mail_servers, mail_account, out_security="ssl", test="1")

    page = html.unescape(_admin(team).post("/accounts/new/imap/", form).content.decode())

    assert "Incoming: every step passed" in page and "Outgoing: failed" in page
    assert "TLS failed" in page and "Check: Outgoing security</span>" in page
    assert not Mailbox.objects.filter(name="sales").exists()


def test_the_detail_pages_test_button_runs_the_saved_accounts_test(
    team: Team, mail_servers: MailServers, mail_account: MailAccount
):
    client = _admin(team)
    form = account_form(mail_servers, mail_account, purpose="receive", save="1")
    assert client.post("/accounts/new/imap/", form).status_code == 302
    mailbox = Mailbox.objects.get(name="sales")
    mailbox.inbound_secret = "changed-on-the-server-meanwhile"
    mailbox.save()

    page = client.post("/accounts/sales/test/").content.decode()

    assert "Incoming: failed" in page and "AUTHENTICATIONFAILED" in page
    assert "Outgoing: not configured" in page


# -- OAuth2: the provider's consent page (the suite's token server) and Dovecot's XOAUTH2 --


def _oauth_account(team: Team, servers: MailServers, account: MailAccount) -> tuple[Client, Any]:
    """An admin's Gmail-style account signing in with the token server's Google endpoints."""
    tokens = servers.tokens
    app = tokens.register_client(redirect_uris=("http://testserver/oauth/callback/",))
    tokens.add_user(account.address)
    authorize, token = tokens.endpoints("google")
    form = account_form(
        servers,
        account,
        sign_in="google",
        password="",
        in_security="none",
        purpose="receive",
        client_id=app.client_id,
        client_secret=app.secret or "",
        auth_url=authorize,
        token_url=token,
        save="1",
    )
    admin = _admin(team)
    response = admin.post("/accounts/new/gmail/", form)
    assert response.status_code == 302, response.context["form"].errors
    return admin, app


def test_connect_with_google_signs_in_by_consent_and_lands_on_the_tested_account(
    team: Team, mail_servers: MailServers, mail_account: MailAccount, settings: Any
):
    settings.CA_FILE = mail_servers.tokens.cafile
    admin, app = _oauth_account(team, mail_servers, mail_account)
    assert "Connect with Google" in admin.get("/accounts/sales/").content.decode()

    started = admin.get("/accounts/sales/connect/")
    assert started.status_code == 302 and "code_challenge_method=S256" in started["Location"]
    answer = mail_servers.tokens.consent(started["Location"])
    landed = admin.get("/oauth/callback/", answer)

    page = landed.content.decode()
    assert landed.status_code == 200
    assert f"Connected sales as {mail_account.address}" in page
    assert "Incoming: every step passed" in page and "Connect with Google" not in page
    grant = OAuthGrant.objects.get(mailbox__name="sales")
    assert grant.status == "connected" and grant.client_secret == app.secret
    assert app.secret not in page and grant.refresh_token not in page
    # The same answer twice is no sign-in.
    assert admin.get("/oauth/callback/", answer).status_code == 404


def test_a_refused_grant_shows_reauthorize_and_signing_in_again_mends_it(
    team: Team, mail_servers: MailServers, mail_account: MailAccount, settings: Any
):
    settings.CA_FILE = mail_servers.tokens.cafile
    admin, _ = _oauth_account(team, mail_servers, mail_account)
    started = admin.get("/accounts/sales/connect/")
    admin.get("/oauth/callback/", mail_servers.tokens.consent(started["Location"]))
    OAuthGrant.objects.filter(mailbox__name="sales").update(
        status="reauthorize", error="invalid_grant: Token has been expired or revoked."
    )
    Mailbox.objects.filter(name="sales").update(status="failed", failed_reason="sign-in refused")

    page = admin.get("/accounts/").content.decode()
    assert "Reauthorize" in page and "Token has been expired or revoked." in (
        admin.get("/accounts/sales/").content.decode()
    )
    denied = admin.get("/accounts/sales/connect/")
    admin.get("/oauth/callback/", mail_servers.tokens.consent(denied["Location"], approve=False))
    assert OAuthGrant.objects.get(mailbox__name="sales").status == "reauthorize"

    again = admin.get("/accounts/sales/connect/")
    admin.get("/oauth/callback/", mail_servers.tokens.consent(again["Location"]))

    assert OAuthGrant.objects.get(mailbox__name="sales").status == "connected"


def test_a_microsoft_365_account_asks_graphs_mail_scopes_of_its_tenant(
    team: Team, mail_servers: MailServers, settings: Any
):
    tokens = mail_servers.tokens
    settings.CA_FILE = tokens.cafile
    app = tokens.register_client(redirect_uris=("http://testserver/oauth/callback/",))
    admin = _admin(team)
    form = {
        "name": "o365",
        "key": "O365",
        "address": "support@contoso.test",
        "purpose": "receive_send",
        "status": "draft",
        "shared_address": "shared@contoso.test",
        "client_id": app.client_id,
        "client_secret": app.secret or "",
        "tenant": tokens.tenant_domain,
        "authority_host": tokens.base_url,
        "folder": "Inbox",
        "save": "1",
    }

    assert admin.post("/accounts/new/graph_shared/", form).status_code == 302
    settings_ = Mailbox.objects.get(name="o365").settings
    assert settings_.inbound is not None and settings_.oauth is not None
    assert (settings_.inbound.protocol, settings_.inbound.user) == ("graph", "shared@contoso.test")
    assert settings_.outbound is not None and settings_.outbound.protocol == "graph"
    assert "https://graph.microsoft.com/Mail.ReadWrite.Shared" in settings_.oauth.scope
    page = admin.get("/accounts/").content.decode()
    assert "Office 365 shared mailbox (Graph)" in page and "Connect with Microsoft" in page

    started = admin.get("/accounts/o365/connect/")

    location = started["Location"]
    assert location.startswith(tokens.base_url) and "/oauth2/v2.0/authorize?" in location
    assert "Mail.ReadWrite.Shared" in location and "code_challenge=" in location
