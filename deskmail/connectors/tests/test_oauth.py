"""The OAuth2 client against the local authorization server, in each provider's style."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest

from deskmail.connectors.credentials import BearerToken
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.imap import ImapConnector
from deskmail.connectors.oauth import (
    OAuthError,
    OAuthProvider,
    TokenSet,
    client_credentials,
    finish_authorization,
    refresh,
    start_authorization,
)
from deskmail.connectors.tests.helpers import inbound, message
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.tokenserver import RegisteredClient, Style, TokenServer

USER = "agent@helpdesk.test"
KINDS: tuple[Style, ...] = ("microsoft", "google", "generic")


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    server = TokenServer().start()
    server.add_user(USER)
    yield server
    server.stop()


def provider_for(
    tokens: TokenServer, kind: Style, client: RegisteredClient, **overrides: Any
) -> OAuthProvider:
    settings: dict[str, Any] = {
        "kind": kind,
        "client_id": client.client_id,
        "client_secret": client.secret,
        "redirect_uri": client.redirect_uris[0],
        "ca_file": tokens.cafile,
    }
    if kind == "microsoft":
        settings |= {"tenant": tokens.tenant_domain, "authority_host": tokens.base_url}
    else:
        authorize, token = tokens.endpoints(kind)
        settings |= {"auth_url": authorize, "token_url": token}
    if kind == "generic":
        settings["scope"] = ("imap", "openid")
    return OAuthProvider(**settings | overrides)


def sign_in(tokens: TokenServer, provider: OAuthProvider, login: str = USER) -> TokenSet:
    """The code flow, with the consent form submitted over plain HTTP."""
    pending = start_authorization(provider, "state-42", login_hint=login)
    return finish_authorization(provider, pending.verifier, tokens.consent(pending.url))


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# -- the code flow ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_it_completes_the_code_flow_with_pkce(tokens: TokenServer, kind: Style) -> None:
    provider = provider_for(tokens, kind, tokens.register_client())
    pending = start_authorization(provider, "state-42", login_hint=USER)
    assert "code_challenge_method=S256" in pending.url and "state=state-42" in pending.url
    answer = tokens.consent(pending.url)
    before = time.time()
    issued = finish_authorization(provider, pending.verifier, answer)
    after = time.time()
    assert tokens.introspect(issued.access_token)["username"] == USER
    assert issued.refresh_token and issued.account == USER
    # expires_in counts from when the request was sent.
    assert issued.expires_at is not None
    assert before + 3600 - 0.001 <= issued.expires_at.timestamp() <= after + 3600


@pytest.mark.parametrize("kind", KINDS)
def test_it_signs_in_as_a_public_client_without_a_secret(tokens: TokenServer, kind: Style) -> None:
    provider = provider_for(tokens, kind, tokens.register_client(public=True))
    assert provider.client_secret is None
    first = sign_in(tokens, provider)
    assert first.refresh_token
    assert refresh(provider, first.refresh_token).refresh_token != first.refresh_token


def test_it_reads_the_tenants_openid_configuration_once_per_provider(
    tokens: TokenServer,
) -> None:
    provider = provider_for(tokens, "microsoft", tokens.register_client())
    current = sign_in(tokens, provider)
    for _ in range(3):
        assert current.refresh_token
        current = refresh(provider, current.refresh_token)
    path = f"/{tokens.tenant_domain}/v2.0/.well-known/openid-configuration"
    assert tokens.requests(path) == 1


def test_it_signs_in_at_the_tenant_never_at_common(tokens: TokenServer) -> None:
    provider = provider_for(tokens, "microsoft", tokens.register_client())
    pending = start_authorization(provider, login_hint=USER)
    assert pending.url.startswith(f"{tokens.base_url}/{tokens.tenant_id}/oauth2/v2.0/authorize?")
    sign_in(tokens, provider)
    assert tokens.requests(f"/{tokens.tenant_id}/oauth2/v2.0/token") == 1
    assert tokens.requests("/common/oauth2/v2.0/token") == 0
    with pytest.raises(pydantic.ValidationError, match="tenant"):
        OAuthProvider(kind="microsoft", client_id="app")


def test_it_asks_google_for_offline_access(tokens: TokenServer) -> None:
    """Without access_type=offline Google sends no refresh token."""
    provider = provider_for(tokens, "google", tokens.register_client())
    pending = start_authorization(provider, login_hint=USER)
    assert "access_type=offline" in pending.url and "prompt=consent" in pending.url
    assert sign_in(tokens, provider).refresh_token


def test_it_refuses_an_answer_with_another_state(tokens: TokenServer) -> None:
    provider = provider_for(tokens, "generic", tokens.register_client())
    pending = start_authorization(provider, login_hint=USER)
    answer = tokens.consent(pending.url) | {"state": "forged"}
    with pytest.raises(OAuthError) as error:
        finish_authorization(provider, pending.verifier, answer)
    assert error.value.reauthorize and "state mismatch" in error.value.message
    assert tokens.tokens_issued == 0


@pytest.mark.parametrize("kind", KINDS)
def test_it_reports_a_declined_consent_as_reauthorize(tokens: TokenServer, kind: Style) -> None:
    provider = provider_for(tokens, kind, tokens.register_client())
    pending = start_authorization(provider, login_hint=USER)
    with pytest.raises(OAuthError) as error:
        finish_authorization(provider, pending.verifier, tokens.consent(pending.url, approve=False))
    assert error.value.provider_error == "access_denied"
    assert error.value.reauthorize and error.value.permanent
    if kind == "microsoft":
        assert "AADSTS65004: User declined to consent" in error.value.message


# -- refreshing ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_it_hands_back_the_rotated_refresh_token_and_the_old_one_is_refused(
    tokens: TokenServer, kind: Style
) -> None:
    provider = provider_for(tokens, kind, tokens.register_client())
    first = sign_in(tokens, provider)
    assert first.refresh_token
    renewed = refresh(provider, first.refresh_token)
    assert renewed.refresh_token and renewed.refresh_token != first.refresh_token
    assert tokens.introspect(renewed.access_token)["active"]
    with pytest.raises(OAuthError) as error:
        refresh(provider, first.refresh_token)
    assert error.value.provider_error == "invalid_grant" and error.value.reauthorize
    assert refresh(provider, renewed.refresh_token).access_token


@pytest.mark.parametrize("kind", KINDS)
def test_it_refreshes_50_times_in_a_row_each_time_with_a_new_refresh_token(
    tokens: TokenServer, kind: Style
) -> None:
    client = tokens.register_client()
    provider = provider_for(tokens, kind, client)
    current = sign_in(tokens, provider)
    seen = {current.refresh_token}
    for _ in range(50):
        assert current.refresh_token
        current = refresh(provider, current.refresh_token)
        seen.add(current.refresh_token)
    assert len(seen) == 51 and tokens.refreshes(client.client_id) == 50
    assert tokens.introspect(current.access_token)["username"] == USER


def test_it_keeps_the_refresh_token_when_the_provider_sends_none(tokens: TokenServer) -> None:
    """Google answers a refresh without a refresh token: the one used stays valid."""
    provider = provider_for(tokens, "google", tokens.register_client(rotate_refresh_tokens=False))
    first = sign_in(tokens, provider)
    assert first.refresh_token
    assert refresh(provider, first.refresh_token).refresh_token == first.refresh_token


@pytest.mark.parametrize("kind", KINDS)
def test_it_refreshes_an_expired_access_token(tokens: TokenServer, kind: Style) -> None:
    client = tokens.register_client(access_token_lifetime=1)
    provider = provider_for(tokens, kind, client)
    first = sign_in(tokens, provider)
    assert first.refresh_token and not first.expires_within(-60)
    # The client counts from when it asked, so it calls the token expired first.
    wait_until(lambda: tokens.introspect(first.access_token) == {"active": False})
    assert first.expires_within(0)
    tokens.set_access_token_lifetime(client.client_id, 3600)  # however slow the machine
    renewed = refresh(provider, first.refresh_token)
    assert not renewed.expires_within(60) and tokens.introspect(renewed.access_token)["active"]


# -- refusals -----------------------------------------------------------------------------

REVOKED_WORDS = {
    "microsoft": "AADSTS50173: The provided grant has expired due to it being revoked",
    "google": "Token has been expired or revoked",
    "generic": "The grant has been revoked",
}


@pytest.mark.parametrize("kind", KINDS)
def test_it_asks_to_reauthorize_a_revoked_grant_in_the_providers_words(
    tokens: TokenServer, kind: Style
) -> None:
    provider = provider_for(tokens, kind, tokens.register_client())
    first = sign_in(tokens, provider)
    assert first.refresh_token
    tokens.revoke_grants(USER)
    with pytest.raises(OAuthError) as error:
        refresh(provider, first.refresh_token)
    assert error.value.provider_error == "invalid_grant"
    assert error.value.reauthorize and error.value.permanent
    assert REVOKED_WORDS[kind] in error.value.message
    assert (error.value.description or "").startswith(REVOKED_WORDS[kind])


def test_it_asks_to_reauthorize_an_expired_grant_with_microsofts_aadsts70008(
    tokens: TokenServer,
) -> None:
    provider = provider_for(tokens, "microsoft", tokens.register_client())
    first = sign_in(tokens, provider)
    assert first.refresh_token
    tokens.expire_grants(USER)
    with pytest.raises(OAuthError) as error:
        refresh(provider, first.refresh_token)
    assert error.value.reauthorize
    assert error.value.message.startswith(
        "Refreshing the access token: Microsoft refused: invalid_grant: AADSTS70008: The "
        "provided authorization code or refresh token has expired due to inactivity."
    )
    # The whole answer, trace and correlation ids included, for a support case.
    assert "Correlation ID: " in (error.value.description or "")


@pytest.mark.parametrize(
    ("kind", "words"),
    [("microsoft", "AADSTS7000215: Invalid client secret"),
     ("google", "invalid_client: Unauthorized")],
)  # fmt: skip
def test_it_reports_a_wrong_client_secret_as_permanent_without_reauthorize(
    tokens: TokenServer, kind: Style, words: str
) -> None:
    provider = provider_for(tokens, kind, tokens.register_client(), client_secret="wrong-secret")
    pending = start_authorization(provider, login_hint=USER)
    with pytest.raises(OAuthError) as error:
        finish_authorization(provider, pending.verifier, tokens.consent(pending.url))
    assert error.value.provider_error == "invalid_client" and words in error.value.message
    assert error.value.permanent and not error.value.reauthorize


def test_it_names_an_unknown_tenant_in_microsofts_words(tokens: TokenServer) -> None:
    provider = provider_for(tokens, "microsoft", tokens.register_client(), tenant="nowhere.test")
    with pytest.raises(OAuthError) as error:
        start_authorization(provider)
    assert "AADSTS90002: Tenant 'nowhere.test' not found" in error.value.message
    assert error.value.permanent and not error.value.reauthorize


@pytest.mark.parametrize("kind", KINDS)
def test_it_treats_an_unreachable_provider_as_temporary(tokens: TokenServer, kind: Style) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{unused.getsockname()[1]}"
    client = tokens.register_client()
    if kind == "microsoft":
        provider = provider_for(tokens, kind, client, authority_host=closed)
    else:
        provider = provider_for(tokens, kind, client, token_url=f"{closed}/token")
    with pytest.raises(OAuthError) as error:
        refresh(provider, "rt_anything")
    assert not error.value.permanent and not error.value.reauthorize
    assert error.value.provider_error is None and "could not be reached" in error.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_it_treats_a_5xx_answer_as_temporary(tokens: TokenServer, kind: Style) -> None:
    provider = provider_for(tokens, kind, tokens.register_client())
    first = sign_in(tokens, provider)
    assert first.refresh_token
    tokens.token_endpoint_outage = 503
    with pytest.raises(OAuthError) as error:
        refresh(provider, first.refresh_token)
    assert not error.value.permanent and not error.value.reauthorize
    assert "answered HTTP 503. Will try again." in error.value.message


def test_it_never_shows_tokens_or_secrets(
    tokens: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = tokens.register_client()
    provider = provider_for(tokens, "microsoft", client)
    pending = start_authorization(provider, login_hint=USER)
    answer = tokens.consent(pending.url)
    issued = finish_authorization(provider, pending.verifier, answer)
    assert issued.refresh_token and client.secret
    renewed = refresh(provider, issued.refresh_token)
    with pytest.raises(OAuthError) as error:
        refresh(provider, issued.refresh_token)
    shown = " ".join(
        [repr(provider), str(provider), repr(pending), repr(issued), str(issued),
         repr(renewed), repr(error.value), str(error.value), caplog.text]
    )  # fmt: skip
    assert "/oauth2/v2.0/token" in caplog.text  # the libraries' debug logs were captured
    secrets = [client.secret, answer["code"], issued.access_token, issued.refresh_token,
               renewed.access_token, str(renewed.refresh_token)]  # fmt: skip
    assert [secret for secret in secrets if secret in shown] == []
    assert "code_verifier" not in repr(pending)


# -- app-only ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "scope"),
    [("microsoft", ["https://outlook.office365.com/.default"]), ("generic", None)],
)
def test_it_gets_an_app_only_token_for_the_apps_mailbox(
    tokens: TokenServer, kind: Style, scope: list[str] | None
) -> None:
    provider = provider_for(tokens, kind, tokens.register_client(app_mailbox=USER))
    issued = client_credentials(provider, scope)
    assert issued.refresh_token is None and issued.expires_at is not None
    assert tokens.introspect(issued.access_token)["username"] == USER


# -- end to end: Dovecot --------------------------------------------------------------------


@pytest.mark.servers
@pytest.mark.parametrize("kind", KINDS)
def test_it_logs_in_to_imap_with_a_token_from_the_code_flow(
    mail_servers: MailServers, mail_account: MailAccount, kind: Style
) -> None:
    tokens = mail_servers.tokens
    tokens.add_user(mail_account.address)
    provider = provider_for(tokens, kind, tokens.register_client())
    issued = sign_in(tokens, provider, login=mail_account.address)
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, auth="oauth2")
    with ImapConnector(config, BearerToken(issued.access_token)) as imap:
        assert imap.count_messages() == 1


@pytest.mark.servers
def test_it_logs_in_again_with_a_refreshed_token_once_the_first_expired(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    tokens = mail_servers.tokens
    tokens.add_user(mail_account.address)
    client = tokens.register_client(access_token_lifetime=1)
    provider = provider_for(tokens, "microsoft", client)
    first = sign_in(tokens, provider, login=mail_account.address)
    config = inbound(mail_servers, mail_account, auth="oauth2")
    wait_until(lambda: tokens.introspect(first.access_token) == {"active": False})
    with pytest.raises(ConnectorError) as error:
        ImapConnector(config, BearerToken(first.access_token)).open()
    assert error.value.auth and "Reauthorize" in error.value.message
    assert first.refresh_token
    tokens.set_access_token_lifetime(client.client_id, 3600)  # however slow the login
    renewed = refresh(provider, first.refresh_token)
    with ImapConnector(config, BearerToken(renewed.access_token)) as imap:
        assert imap.count_messages() == 0
