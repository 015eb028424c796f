"""Mailboxes connected by a person's OAuth2 consent, against the local authorization server
and Dovecot's oauth2 passdb, which checks every token by introspection."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.utils import timezone

from deskmail.connectors.errors import ConnectorError
from deskmail.mailboxes import grants
from deskmail.mailboxes.connections import credentials, inbound_session
from deskmail.mailboxes.models import Mailbox, OAuthGrant
from deskmail.sync.driver import sync_pass
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.tokenserver import RegisteredClient, Style, TokenServer

pytestmark = [pytest.mark.servers, pytest.mark.django_db]


def oauth_section(tokens: TokenServer, client: RegisteredClient, style: Style) -> dict[str, Any]:
    """The `oauth:` section an admin writes for the local server in the provider's style."""
    section: dict[str, Any] = {
        "grant": "user",
        "provider": style,
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
    }
    if style == "microsoft":
        section |= {"tenant": tokens.tenant_domain, "authority_host": tokens.base_url}
    else:
        authorize, token = tokens.endpoints(style)
        section |= {"auth_url": authorize, "token_url": token}
    if style == "generic":
        section["scope"] = ["imap", "openid"]
    return section


def oauth_mailbox(
    servers: MailServers, account: MailAccount, client: RegisteredClient, style: Style = "google"
) -> Mailbox:
    servers.tokens.add_user(account.address)
    return make_mailbox(
        name=account.address,
        key="SUP",
        address=account.address,
        inbound={
            "protocol": "imap",
            "host": "127.0.0.1",
            "port": servers.ports["imap"],
            "security": "none",
            "username": account.address,
            "auth": "oauth2",
        },
        oauth=oauth_section(servers.tokens, client, style),
    )


def consent(servers: MailServers, mailbox: Mailbox, secret: str = "") -> OAuthGrant:
    """The admin's round trip: the provider's consent page approved, back at the callback."""
    pending = grants.start(mailbox, "state-1", client_secret=secret)
    return grants.finish(
        mailbox, pending.verifier, servers.tokens.consent(pending.url), client_secret=secret
    )


@pytest.fixture(autouse=True)
def trust_the_token_server(settings: Any, mail_servers: MailServers) -> None:
    settings.CA_FILE = mail_servers.tokens.cafile


def fetched_subjects(mailbox: Mailbox) -> int:
    session = inbound_session(mailbox)
    with session:
        return sync_pass(mailbox, session).fetched


@pytest.mark.parametrize("style", ["microsoft", "google", "generic"])
def test_it_connects_by_consent_and_reads_the_mailbox_over_xoauth2(
    mail_servers: MailServers, mail_account: MailAccount, style: Style
) -> None:
    client = mail_servers.tokens.register_client()
    mailbox = oauth_mailbox(mail_servers, mail_account, client, style)
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Hello"))

    grant = consent(mail_servers, mailbox, client.secret or "")

    assert (
        grant.status == "connected"
        and grant.refresh_token
        and grant.account
        in (
            mail_account.address,
            "",
        )
    )
    assert fetched_subjects(mailbox) == 1
    # The client secret and the tokens are stored encrypted, never in clear.
    stored = OAuthGrant.objects.filter(pk=grant.pk).values_list(
        "client_secret", "refresh_token", "access_token"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_secret, refresh_token, access_token FROM mailboxes_oauthgrant"
        )
        raw = cursor.fetchone()
    assert client.secret not in raw[0] and grant.refresh_token not in raw[1]
    assert list(stored)[0][1] == grant.refresh_token


def test_it_refreshes_before_expiry_and_keeps_each_rotated_refresh_token(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    tokens = mail_servers.tokens
    client = tokens.register_client(access_token_lifetime=60)  # inside REFRESH_EARLY_S
    mailbox = oauth_mailbox(mail_servers, mail_account, client)
    first = consent(mail_servers, mailbox, client.secret or "")
    source = credentials(mailbox, "inbound")
    refused_before = tokens.refused("invalid_grant")

    seen = {first.refresh_token}
    for _ in range(3):
        source.secret()
        seen.add(OAuthGrant.objects.get(mailbox=mailbox).refresh_token)

    assert tokens.refreshes(client.client_id) == 3
    assert len(seen) == 4  # rotated each time, and each rotation kept
    assert tokens.refused("invalid_grant") == refused_before
    assert fetched_subjects(mailbox) == 0  # the last token opens the mailbox


def test_it_uses_a_token_until_shortly_before_it_ends(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    tokens = mail_servers.tokens
    client = tokens.register_client(access_token_lifetime=3600)
    mailbox = oauth_mailbox(mail_servers, mail_account, client)
    consent(mail_servers, mailbox, client.secret or "")
    source = credentials(mailbox, "inbound")

    assert source.secret() == source.secret()
    assert tokens.refreshes(client.client_id) == 0


def test_a_token_once_read_serves_the_connectors_own_threads_without_the_database(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    """Graph reads messages from a pool of threads; each asks for the token."""
    client = mail_servers.tokens.register_client(access_token_lifetime=3600)
    mailbox = oauth_mailbox(mail_servers, mail_account, client)
    consent(mail_servers, mailbox, client.secret or "")
    source = credentials(mailbox, "inbound")
    token = source.secret()

    with ThreadPoolExecutor(2, thread_name_prefix="graph") as pool:
        answers = list(pool.map(lambda _: source.secret(), range(2)))

    assert answers == [token, token]


@pytest.mark.parametrize("style", ["microsoft", "google"])
def test_a_revoked_grant_fails_the_mailbox_with_the_providers_words_and_stops_asking(
    mail_servers: MailServers, mail_account: MailAccount, style: Style
) -> None:
    tokens = mail_servers.tokens
    client = tokens.register_client(access_token_lifetime=1)
    mailbox = oauth_mailbox(mail_servers, mail_account, client, style)
    consent(mail_servers, mailbox, client.secret or "")
    tokens.revoke_grants(mail_account.address)
    source = credentials(mailbox, "inbound")
    refused_before = tokens.refused("invalid_grant")

    with pytest.raises(ConnectorError) as refused:
        source.secret()
    with pytest.raises(ConnectorError):
        source.secret()

    assert refused.value.reauthorize and refused.value.permanent
    if style == "microsoft":
        assert "AADSTS50173" in refused.value.message
    else:
        assert "expired or revoked" in refused.value.message
    assert "Reauthorize" in refused.value.message
    assert tokens.refused("invalid_grant") - refused_before == 1  # asked once, not in a loop
    grant = OAuthGrant.objects.get(mailbox=mailbox)
    assert grant.status == "reauthorize" and grant.access_token == ""


def test_reauthorizing_brings_a_failed_mailbox_back_with_the_mail_that_waited(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    from deskmail.sync import health

    tokens = mail_servers.tokens
    client = tokens.register_client(access_token_lifetime=1)
    mailbox = oauth_mailbox(mail_servers, mail_account, client)
    consent(mail_servers, mailbox, client.secret or "")
    tokens.revoke_grants(mail_account.address)
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Waiting"))
    try:
        fetched_subjects(mailbox)
    except ConnectorError as exc:
        health.record_failure(mailbox, exc.message, exc.server_reply, at_once=exc.reauthorize)
    mailbox.refresh_from_db()
    assert mailbox.status == "failed" and "Reauthorize" in mailbox.failed_reason
    version = mailbox.updated_at

    consent(mail_servers, mailbox, client.secret or "")

    mailbox.refresh_from_db()
    assert mailbox.updated_at > version  # the worker takes it up again at once
    assert fetched_subjects(mailbox) == 1


def test_it_refuses_a_sign_in_with_another_account_than_the_mailbox_logs_in_as(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    tokens = mail_servers.tokens
    client = tokens.register_client()
    mailbox = oauth_mailbox(mail_servers, mail_account, client, "microsoft")
    tokens.add_user("someone.else@helpdesk.test")
    pending = grants.start(mailbox, "s", client_secret=client.secret or "")
    answer = tokens.consent(pending.url, login="someone.else@helpdesk.test")

    with pytest.raises(grants.GrantError, match="signed in as someone.else@helpdesk.test"):
        grants.finish(mailbox, pending.verifier, answer, client_secret=client.secret or "")
    assert not OAuthGrant.objects.exists()


def test_it_connects_with_a_pasted_refresh_token(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    from deskmail.connectors.oauth import finish_authorization, start_authorization

    tokens = mail_servers.tokens
    client = tokens.register_client()
    mailbox = oauth_mailbox(mail_servers, mail_account, client)
    provider = grants.provider(mailbox, client.secret or "")
    pending = start_authorization(provider, "s", login_hint=mail_account.address)
    elsewhere = finish_authorization(provider, pending.verifier, tokens.consent(pending.url))
    assert elsewhere.refresh_token

    grant = grants.connect_with_refresh_token(
        mailbox, elsewhere.refresh_token, client_secret=client.secret or ""
    )

    assert grant.refresh_token != elsewhere.refresh_token  # redeemed once, and rotated
    assert fetched_subjects(mailbox) == 0


def test_a_mailbox_not_yet_connected_says_how_to_connect_it(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mailbox = oauth_mailbox(mail_servers, mail_account, mail_servers.tokens.register_client())

    with pytest.raises(ConnectorError, match="mailboxes authorize"):
        credentials(mailbox, "inbound").secret()


def test_a_google_testing_app_is_known_to_end_after_seven_days_and_is_warned_about(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    week = 7 * 86400
    client = mail_servers.tokens.register_client(refresh_token_lifetime=week)
    mailbox = oauth_mailbox(mail_servers, mail_account, client)
    grant = consent(mail_servers, mailbox, client.secret or "")
    now = timezone.now()

    assert grant.refresh_expires_at is not None
    assert abs((grant.refresh_expires_at - now) - dt.timedelta(seconds=week)) < dt.timedelta(
        seconds=30
    )
    assert grants.ending_soon(now) == []
    due = grants.ending_soon(now + dt.timedelta(days=4, hours=1))
    assert [found.pk for found in due] == [grant.pk]
    assert grants.mark_warned(due[0], now + dt.timedelta(days=4, hours=1))
    assert not grants.mark_warned(due[0], now + dt.timedelta(days=4, hours=1))  # once only
    assert grants.ending_soon(now + dt.timedelta(days=4, hours=2)) == []
    assert grants.ending_soon(now + dt.timedelta(days=5, hours=2)) == []
