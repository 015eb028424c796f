"""The test authorization server, spoken to over plain HTTP as any OAuth client would."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from deskmail.testing.tokenserver import (
    DEFAULT_REDIRECT_URI,
    ConsentError,
    RegisteredClient,
    Style,
    TokenServer,
)

USER = "agent@helpdesk.test"
STYLES: tuple[Style, ...] = ("generic", "google", "microsoft")
# What each style needs in the authorization request to hand out a refresh token.
OFFLINE: dict[Style, dict[str, str]] = {
    "generic": {"scope": "imap"},
    "google": {"scope": "https://mail.google.com/ openid email", "access_type": "offline"},
    "microsoft": {"scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"},
}


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    server = TokenServer().start()
    server.add_user(USER)
    yield server
    server.stop()


class Reply:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> dict[str, Any]:
        answer = json.loads(self.body)
        assert isinstance(answer, dict)
        return answer


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def request(
    tokens: TokenServer,
    url: str,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """GET (or POST `form`) without following redirects; errors are replies too."""
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    context = ssl.create_default_context(cafile=tokens.cafile)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _NoRedirects()
    )
    prepared = urllib.request.Request(url, body, headers=dict(headers or {}))  # noqa: S310
    try:
        with opener.open(prepared, timeout=5) as reply:
            return Reply(reply.status, reply.headers, reply.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(
    tokens: TokenServer, style: Style, client: RegisteredClient, challenge: str, **extra: str
) -> str:
    tenant = extra.pop("tenant", tokens.tenant_domain)
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": client.redirect_uris[0],
        "state": "state-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": USER,
        **OFFLINE[style],
        **extra,
    }
    endpoint = tokens.endpoints(style, tenant).authorize
    return f"{endpoint}?{urllib.parse.urlencode(params)}"


def sign_in(
    tokens: TokenServer, style: Style, client: RegisteredClient, **extra: str
) -> dict[str, Any]:
    """The whole code flow: consent, then redeem the code; returns the token answer."""
    verifier, challenge = pkce()
    answer = tokens.consent(authorize_url(tokens, style, client, challenge, **extra))
    reply = token_request(tokens, style, client, grant_type="authorization_code",
                          code=answer["code"], code_verifier=verifier,
                          redirect_uri=client.redirect_uris[0])  # fmt: skip
    assert reply.status == 200, reply.body
    return reply.json()


def token_request(
    tokens: TokenServer,
    style: Style,
    client: RegisteredClient,
    headers: Mapping[str, str] | None = None,
    **form: str,
) -> Reply:
    credentials = {"client_id": client.client_id}
    if client.secret:
        credentials["client_secret"] = client.secret
    url = tokens.endpoints(style, tokens.tenant_domain).token
    return request(tokens, url, credentials | form, headers)


def refresh(tokens: TokenServer, style: Style, client: RegisteredClient, token: str) -> Reply:
    return token_request(tokens, style, client, grant_type="refresh_token", refresh_token=token)


def introspect(tokens: TokenServer, token: str) -> dict[str, Any]:
    body = urllib.parse.urlencode({"token": token}).encode()
    with urllib.request.urlopen(tokens.introspection_url, body, timeout=5) as reply:  # noqa: S310 (loopback http)
        answer = json.load(reply)
    assert isinstance(answer, dict)
    return answer


def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# -- introspection, for Dovecot -----------------------------------------------------------


def test_it_calls_an_issued_token_active_for_its_user(tokens: TokenServer) -> None:
    answer = introspect(tokens, tokens.issue("A@Helpdesk.test"))
    assert answer["active"] is True and answer["username"] == "a@helpdesk.test"


def test_it_calls_expired_revoked_and_unknown_tokens_inactive(tokens: TokenServer) -> None:
    expired = tokens.issue("a@helpdesk.test", expires_in=-1)
    revoked = tokens.issue("a@helpdesk.test")
    tokens.revoke(revoked)
    for token in (expired, revoked, "made-up"):
        assert introspect(tokens, token) == {"active": False}


# -- the authorization endpoint -----------------------------------------------------------


def test_it_shows_a_consent_form_with_approve_and_deny_buttons(tokens: TokenServer) -> None:
    client = tokens.register_client()
    reply = request(tokens, authorize_url(tokens, "generic", client, pkce()[1]))
    page = reply.body.decode()
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    assert '<form method="post"' in page
    assert '<button type="submit" name="decision" value="approve">Approve</button>' in page
    assert 'value="deny" formnovalidate>Deny</button>' in page
    assert f'name="login" value="{USER}"' in page and "<li>imap</li>" in page


@pytest.mark.parametrize("style", STYLES)
def test_it_redirects_back_with_a_code_and_the_state_on_approval(
    tokens: TokenServer, style: Style
) -> None:
    client = tokens.register_client()
    answer = tokens.consent(authorize_url(tokens, style, client, pkce()[1]))
    assert answer["state"] == "state-1" and answer["code"].startswith("code_")


def test_it_signs_in_the_account_typed_on_the_page(tokens: TokenServer) -> None:
    tokens.add_user("other@helpdesk.test")
    client = tokens.register_client()
    verifier, challenge = pkce()
    url = authorize_url(tokens, "google", client, challenge)
    code = tokens.consent(url, login="Other@Helpdesk.test")["code"]
    reply = token_request(tokens, "google", client, grant_type="authorization_code", code=code,
                          code_verifier=verifier, redirect_uri=DEFAULT_REDIRECT_URI)  # fmt: skip
    assert introspect(tokens, reply.json()["access_token"])["username"] == "other@helpdesk.test"


def test_it_asks_again_for_an_account_it_does_not_know(tokens: TokenServer) -> None:
    client = tokens.register_client()
    with pytest.raises(ConsentError) as error:
        tokens.consent(authorize_url(tokens, "generic", client, pkce()[1]), login="x@nowhere.test")
    assert error.value.status == 200
    assert "There is no account" in error.value.text and "<form" in error.value.text


@pytest.mark.parametrize("style", STYLES)
def test_it_redirects_back_with_access_denied_when_the_user_denies(
    tokens: TokenServer, style: Style
) -> None:
    client = tokens.register_client()
    answer = tokens.consent(authorize_url(tokens, style, client, pkce()[1]), approve=False)
    assert answer["error"] == "access_denied" and answer["state"] == "state-1"
    assert "code" not in answer
    if style == "microsoft":
        assert answer["error_description"].startswith("AADSTS65004: User declined to consent")
        assert answer["error_subcode"] == "cancel"


@pytest.mark.parametrize(
    "change", [{"code_challenge": ""}, {"code_challenge_method": "plain"}], ids=["none", "plain"]
)
def test_it_requires_pkce_with_s256(tokens: TokenServer, change: dict[str, str]) -> None:
    client = tokens.register_client()
    reply = request(tokens, authorize_url(tokens, "generic", client, pkce()[1], **change))
    assert reply.status == 302
    answer = urllib.parse.parse_qs(urllib.parse.urlsplit(reply.headers["Location"]).query)
    assert answer["error"] == ["invalid_request"] and answer["state"] == ["state-1"]


def test_it_never_redirects_to_an_unregistered_redirect_uri(tokens: TokenServer) -> None:
    client = tokens.register_client()
    url = authorize_url(tokens, "microsoft", client, pkce()[1], redirect_uri="https://evil.test/")
    reply = request(tokens, url)
    assert reply.status == 400 and "Location" not in reply.headers
    assert "AADSTS50011: The redirect URI &#x27;https://evil.test/&#x27;" in reply.body.decode()


# -- the token endpoint: codes ------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_it_redeems_a_code_for_tokens_the_introspection_calls_active(
    tokens: TokenServer, style: Style
) -> None:
    client = tokens.register_client()
    answer = sign_in(tokens, style, client)
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    assert answer["refresh_token"].startswith("rt_")
    assert introspect(tokens, answer["access_token"])["username"] == USER


def test_it_redeems_a_code_only_once_and_revokes_what_it_gave_for_it(tokens: TokenServer) -> None:
    client = tokens.register_client()
    verifier, challenge = pkce()
    code = tokens.consent(authorize_url(tokens, "generic", client, challenge))["code"]
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": DEFAULT_REDIRECT_URI}  # fmt: skip
    first = token_request(tokens, "generic", client, **form).json()
    again = token_request(tokens, "generic", client, **form)
    assert again.status == 400 and again.json()["error"] == "invalid_grant"
    # RFC 6749 section 4.1.2: the code was stolen or replayed; what it gave is revoked.
    assert introspect(tokens, first["access_token"]) == {"active": False}
    assert refresh(tokens, "generic", client, first["refresh_token"]).status == 400


@pytest.mark.parametrize(
    ("change", "aadsts"),
    [({"code_verifier": "x" * 43}, 501481), ({"redirect_uri": "https://other.test/cb"}, 500112)],
    ids=["verifier", "redirect_uri"],
)
def test_it_refuses_a_code_with_another_verifier_or_redirect_uri(
    tokens: TokenServer, change: dict[str, str], aadsts: int
) -> None:
    client = tokens.register_client()
    verifier, challenge = pkce()
    code = tokens.consent(authorize_url(tokens, "microsoft", client, challenge))["code"]
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": DEFAULT_REDIRECT_URI} | change  # fmt: skip
    reply = token_request(tokens, "microsoft", client, **form)
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_grant" and reply.json()["error_codes"] == [aadsts]


@pytest.mark.parametrize(
    ("style", "extra"),
    [("microsoft", {"scope": "https://outlook.office.com/IMAP.AccessAsUser.All"}),
     ("google", {"access_type": "online"})],
    ids=["microsoft-without-offline_access", "google-online"],
)  # fmt: skip
def test_it_gives_a_refresh_token_only_for_offline_access(
    tokens: TokenServer, style: Style, extra: dict[str, str]
) -> None:
    answer = sign_in(tokens, style, tokens.register_client(), **extra)
    assert "access_token" in answer and "refresh_token" not in answer


# -- the token endpoint: refresh ----------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_it_rotates_the_refresh_token_and_refuses_the_old_one(
    tokens: TokenServer, style: Style
) -> None:
    client = tokens.register_client()
    old = sign_in(tokens, style, client)["refresh_token"]
    renewed = refresh(tokens, style, client, old).json()
    assert renewed["refresh_token"] != old and introspect(tokens, renewed["access_token"])["active"]
    reused = refresh(tokens, style, client, old)
    assert reused.status == 400 and reused.json()["error"] == "invalid_grant"
    assert refresh(tokens, style, client, renewed["refresh_token"]).status == 200
    assert tokens.refreshes(client.client_id) == 2 and tokens.refused("invalid_grant") == 1


def test_it_keeps_the_refresh_token_for_a_client_without_rotation(tokens: TokenServer) -> None:
    client = tokens.register_client(rotate_refresh_tokens=False)
    token = sign_in(tokens, "google", client)["refresh_token"]
    for _ in range(2):
        answer = refresh(tokens, "google", client, token).json()
        assert "access_token" in answer and "refresh_token" not in answer


def test_it_counts_tokens_issued_and_refreshes_per_client(tokens: TokenServer) -> None:
    client, other = tokens.register_client(), tokens.register_client()
    token = sign_in(tokens, "generic", client)["refresh_token"]
    for _ in range(3):
        token = refresh(tokens, "generic", client, token).json()["refresh_token"]
    assert tokens.tokens_issued == 4
    assert (tokens.refreshes(client.client_id), tokens.refreshes(other.client_id)) == (3, 0)


def test_it_gives_access_tokens_the_clients_lifetime(tokens: TokenServer) -> None:
    client = tokens.register_client(access_token_lifetime=1)
    answer = sign_in(tokens, "generic", client)
    assert answer["expires_in"] == 1
    wait_until(lambda: not introspect(tokens, answer["access_token"])["active"])
    tokens.set_access_token_lifetime(client.client_id, 60)
    renewed = refresh(tokens, "generic", client, answer["refresh_token"]).json()
    assert renewed["expires_in"] == 60 and introspect(tokens, renewed["access_token"])["active"]


# -- errors -----------------------------------------------------------------------------------


def test_it_answers_refusals_as_rfc_6749_section_5_2(tokens: TokenServer) -> None:
    client = tokens.register_client()
    reply = refresh(tokens, "generic", client, "rt_unknown")
    assert reply.status == 400 and reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.json() == {"error": "invalid_grant",
                            "error_description": "The refresh token is not valid."}  # fmt: skip


def test_it_answers_a_wrong_client_secret_with_401_invalid_client(tokens: TokenServer) -> None:
    client = tokens.register_client()
    basic = base64.b64encode(f"{client.client_id}:wrong".encode()).decode()
    url = tokens.endpoints("generic").token
    reply = request(tokens, url, {"grant_type": "client_credentials"},
                    {"Authorization": f"Basic {basic}"})  # fmt: skip
    assert reply.status == 401 and reply.json()["error"] == "invalid_client"
    assert reply.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("end", "aadsts", "words"),
    [("revoke", 50173, "The provided grant has expired due to it being revoked"),
     ("expire", 70008, "The provided authorization code or refresh token has expired")],
)  # fmt: skip
def test_it_answers_like_microsoft_when_a_grant_is_revoked_or_expired(
    tokens: TokenServer, end: str, aadsts: int, words: str
) -> None:
    client = tokens.register_client()
    token = sign_in(tokens, "microsoft", client)["refresh_token"]
    ended = tokens.revoke_grants(USER) if end == "revoke" else tokens.expire_grants(USER)
    assert ended == 1
    reply = token_request(tokens, "microsoft", client, {"client-request-id": "corr-1"},
                          grant_type="refresh_token", refresh_token=token)  # fmt: skip
    body = reply.json()
    assert reply.status == 400 and body["error"] == "invalid_grant"
    assert body["error_description"].startswith(f"AADSTS{aadsts}: {words}")
    assert f"Trace ID: {body['trace_id']}\r\nCorrelation ID: corr-1" in body["error_description"]
    assert body["error_codes"] == [aadsts] and body["correlation_id"] == "corr-1"
    assert body["timestamp"] in body["error_description"]


def test_it_refuses_a_refresh_token_idle_for_too_long_like_microsoft(
    tokens: TokenServer,
) -> None:
    client = tokens.register_client()
    token = sign_in(tokens, "microsoft", client)["refresh_token"]
    tokens.refresh_token_max_idle = 0.2
    issued = time.time()
    wait_until(lambda: time.time() > issued + 0.3)
    body = refresh(tokens, "microsoft", client, token).json()
    assert body["error"] == "invalid_grant"
    assert body["error_description"].startswith("AADSTS700082: The refresh token has expired")


def test_it_answers_google_refusals_in_googles_words(tokens: TokenServer) -> None:
    client = tokens.register_client()
    token = sign_in(tokens, "google", client)["refresh_token"]
    tokens.revoke_grants(USER)
    assert refresh(tokens, "google", client, token).json() == {
        "error": "invalid_grant", "error_description": "Token has been expired or revoked."
    }  # fmt: skip


@pytest.mark.parametrize(("tenant", "aadsts"), [("common", 50194), ("nowhere.test", 90002)])
def test_it_refuses_common_for_a_single_tenant_app_and_unknown_tenants(
    tokens: TokenServer, tenant: str, aadsts: int
) -> None:
    client = tokens.register_client()
    url = tokens.endpoints("microsoft", tenant).token
    reply = request(tokens, url, {"grant_type": "client_credentials",
                                  "client_id": client.client_id,
                                  "client_secret": client.secret or ""})  # fmt: skip
    assert reply.status == 400 and reply.json()["error_codes"] == [aadsts]
    page = request(tokens, authorize_url(tokens, "microsoft", client, pkce()[1], tenant=tenant))
    assert page.status == 400 and f"AADSTS{aadsts}:" in page.body.decode()


def test_it_accepts_common_for_a_multitenant_app(tokens: TokenServer) -> None:
    client = tokens.register_client(multitenant=True)
    assert "access_token" in sign_in(tokens, "microsoft", client, tenant="common")


# -- client credentials, discovery, revocation ----------------------------------------------


def test_it_gives_client_credentials_tokens_for_the_apps_mailbox(tokens: TokenServer) -> None:
    client = tokens.register_client(app_mailbox="Support@helpdesk.test")
    reply = token_request(tokens, "microsoft", client, grant_type="client_credentials",
                          scope="https://outlook.office365.com/.default")  # fmt: skip
    answer = reply.json()
    assert "refresh_token" not in answer
    assert introspect(tokens, answer["access_token"])["username"] == "support@helpdesk.test"


@pytest.mark.parametrize(
    ("style", "scope", "error"),
    [("microsoft", "https://outlook.office.com/IMAP.AccessAsUser.All", "invalid_scope"),
     ("google", "https://mail.google.com/", "unsupported_grant_type")],
)  # fmt: skip
def test_it_refuses_client_credentials_as_the_providers_do(
    tokens: TokenServer, style: Style, scope: str, error: str
) -> None:
    client = tokens.register_client()
    reply = token_request(tokens, style, client, grant_type="client_credentials", scope=scope)
    assert reply.status == 400 and reply.json()["error"] == error


def test_it_serves_the_tenants_openid_configuration(tokens: TokenServer) -> None:
    url = f"{tokens.base_url}/{tokens.tenant_domain}/v2.0/.well-known/openid-configuration"
    config = request(tokens, url).json()
    assert config["issuer"] == f"{tokens.base_url}/{tokens.tenant_id}/v2.0"
    assert (config["authorization_endpoint"], config["token_endpoint"]) == tokens.endpoints(
        "microsoft", tokens.tenant_id
    )
    unknown = request(tokens, f"{tokens.base_url}/x.test/v2.0/.well-known/openid-configuration")
    assert unknown.status == 400 and unknown.json()["error_codes"] == [90002]


def test_it_answers_msals_instance_discovery(
    tokens: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MSAL accepts a host it does not know when told where to discover it."""
    import msal  # type: ignore[import-untyped]

    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)  # they would override `verify`
    client = tokens.register_client()
    app = msal.ConfidentialClientApplication(
        client.client_id,
        client_credential=client.secret,
        authority=f"{tokens.base_url}/{tokens.tenant_domain}",
        instance_discovery=f"{tokens.base_url}/common/discovery/instance",
        verify=tokens.cafile,
    )
    answer = app.acquire_token_for_client(["https://outlook.office365.com/.default"])
    assert "access_token" in answer
    assert tokens.requests("/common/discovery/instance") == 1


def test_it_revokes_the_whole_grant_through_the_revocation_endpoint(tokens: TokenServer) -> None:
    client = tokens.register_client()
    answer = sign_in(tokens, "google", client)
    reply = request(tokens, f"{tokens.base_url}/revoke", {"token": answer["refresh_token"]})
    assert reply.status == 200
    assert introspect(tokens, answer["access_token"]) == {"active": False}
    assert refresh(tokens, "google", client, answer["refresh_token"]).status == 400
