"""A small OAuth 2.0 authorization server for tests: Google's, Microsoft's or plain RFC 6749.

Two listeners on 127.0.0.1, one handler:
- plain HTTP for Dovecot's oauth2 passdb, which POSTs `token=<bearer>` to
  `/introspect` (RFC 7662) and accepts the login when the answer says
  `"active": true` and names the same user;
- HTTPS (a self-signed certificate made at start, `cafile`) for the OAuth
  clients: MSAL refuses any authority that is not `https://`.

Endpoints, by provider style (the path decides the style):

- generic (RFC 6749): `/oauth2/authorize`, `/oauth2/token`, `/oauth2/revoke` (RFC 7009);
- google: `/o/oauth2/v2/auth`, `/token`, `/revoke`;
- microsoft: `/{tenant}/oauth2/v2.0/authorize`, `/{tenant}/oauth2/v2.0/token`, and
  `/{tenant}/v2.0/.well-known/openid-configuration`, where MSAL learns the endpoints.
  `{tenant}` is the tenant's id or domain; `common` only for multi-tenant clients.

The authorization endpoint validates the request (client, redirect URI,
`response_type=code`, PKCE with `S256` required) and shows a consent page: an
HTML form with the account (pre-filled from `login_hint`) and "Approve" /
"Deny" buttons. Approving redirects back with `code` and `state`; denying with
`error=access_denied`. `consent()` plays the browser for tests.

The token endpoint serves `authorization_code` (PKCE verified, code single-use,
`redirect_uri` checked), `refresh_token` with rotation (the old refresh token
is refused with `invalid_grant` once used) and `client_credentials`. Refusals
follow RFC 6749 section 5.2 and, per style, the provider's own wording:
Microsoft's bodies carry `AADSTSnnnn:` descriptions, `error_codes`,
`trace_id`, `correlation_id` and `timestamp`, as the Microsoft identity
platform sends them (codes and texts modelled on its documented errors).

Refresh tokens are issued as the providers do: Microsoft for the
`offline_access` scope, Google for `access_type=offline`, the generic style
always. A client registered with `refresh_token_lifetime` gets refresh tokens
that end that long after the consent, announced as `refresh_token_expires_in`
in each token answer, as Google documents for apps whose publishing status is
"Testing" (Google Identity, "Using OAuth 2.0 to Access Google APIs",
refresh token expiration). Test helpers revoke or expire a user's grants, and counters say how
many tokens were issued and refreshes made per client. Everything lives in
memory; the server runs in threads of the test process.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import html
import http.client
import ipaddress
import json
import math
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deskmail.testing.loopback import LoopbackHTTPServer

Style = Literal["generic", "google", "microsoft"]

DEFAULT_REDIRECT_URI = "https://deskmail.test/oauth/callback"
DEFAULT_TENANT_DOMAIN = "helpdesk.test"
# Microsoft's OpenID Connect scopes: MSAL adds them to every request.
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
# RFC 7636 section 4.1: 43 to 128 characters from the unreserved set.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_MAX_BODY = 64 * 1024


class Endpoints(NamedTuple):
    authorize: str
    token: str


@dataclass(frozen=True)
class RegisteredClient:
    """An application registered with the server; `secret` is None for a public client."""

    client_id: str
    secret: str | None = field(repr=False)
    redirect_uris: tuple[str, ...]
    access_token_lifetime: float
    rotate_refresh_tokens: bool = True
    # Microsoft: whether /common and /organizations may be used instead of the tenant.
    multitenant: bool = False
    # The account a client-credentials (app-only) token acts for; Dovecot accepts it for that.
    app_mailbox: str | None = None
    # Seconds a grant's refresh tokens last from the consent, said in every answer as
    # `refresh_token_expires_in` (Google, for apps in "testing": 7 days). None: no end.
    refresh_token_lifetime: float | None = None


@dataclass
class _Consent:
    """An authorization request waiting for the user's decision on the consent page."""

    client: RegisteredClient
    style: Style
    tenant: str
    redirect_uri: str
    redirect_uri_given: bool
    state: str | None
    challenge: str
    scope: tuple[str, ...]
    nonce: str | None
    login_hint: str
    offline: bool
    created: float


@dataclass
class _Code:
    client_id: str
    username: str
    redirect_uri: str | None
    challenge: str
    scope: tuple[str, ...]
    nonce: str | None
    offline: bool
    issued: float
    used: bool = False
    # Tokens issued for it: revoked when someone tries the code again (RFC 6749 section 4.1.2).
    grant_id: str | None = None
    access_token: str | None = None


@dataclass
class _Grant:
    """A user's consent to one client; each refresh rotates its refresh token."""

    grant_id: str
    client_id: str
    username: str
    scope: tuple[str, ...]
    issued: float
    last_used: float
    state: Literal["active", "revoked", "expired"] = "active"
    refresh_token: str | None = None
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class _AccessToken:
    username: str
    expires: float
    client_id: str | None
    scope: tuple[str, ...]
    grant_id: str | None


class Refusal(Exception):
    """A request the server turns down; rendered per style by `_error_body()`."""

    def __init__(self, reason: str, **details: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class _Reason(NamedTuple):
    error: str
    status: int
    generic: str
    google: str
    aadsts: int
    microsoft: str
    # Microsoft answers some refusals with another error code or HTTP status.
    microsoft_error: str | None = None
    microsoft_status: int | None = None


_EXPIRED_MS = (
    "The provided authorization code or refresh token has expired due to inactivity. "
    "Send a new interactive authorization request for this user and resource."
)
_MALFORMED_MS = "Invalid request. Request is malformed or invalid."
_GOOGLE_EXPIRED = "Token has been expired or revoked."

REASONS: dict[str, _Reason] = {
    "missing_parameter": _Reason(
        "invalid_request", 400, "Missing required parameter: {name}.",
        "Missing required parameter: {name}", 900144,
        "The request body must contain the following parameter: '{name}'."),
    "unsupported_grant_type": _Reason(
        "unsupported_grant_type", 400, "The grant type '{grant_type}' is not supported.",
        "Invalid grant_type: {grant_type}", 70003,
        "The app requested an unsupported grant type '{grant_type}'."),
    "unknown_client": _Reason(
        "invalid_client", 401, "Unknown client '{client_id}'.",
        "The OAuth client was not found.", 700016,
        "Application with identifier '{client_id}' was not found in the directory "
        "'{tenant}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You may "
        "have sent your authentication request to the wrong tenant.",
        microsoft_error="unauthorized_client", microsoft_status=400),
    "bad_client_secret": _Reason(
        "invalid_client", 401, "Client authentication failed.", "Unauthorized", 7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app "
        "'{client_id}'."),
    "missing_client_secret": _Reason(
        "invalid_client", 401, "Client authentication failed: no client secret.",
        "client_secret is missing.", 7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'."),
    "unknown_code": _Reason(
        "invalid_grant", 400, "The authorization code is not valid.", "Malformed auth code.",
        9002313, _MALFORMED_MS),
    "code_other_client": _Reason(
        "invalid_grant", 400, "The authorization code was issued to another client.",
        "Bad Request", 9002313, _MALFORMED_MS),
    "code_expired": _Reason(
        "invalid_grant", 400, "The authorization code has expired.", "Bad Request", 70008,
        _EXPIRED_MS),
    "code_reused": _Reason(
        "invalid_grant", 400, "The authorization code was already used.", "Bad Request", 54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
        "or use an existing refresh token."),
    "pkce_mismatch": _Reason(
        "invalid_grant", 400, "The code_verifier does not match the code_challenge.",
        "Invalid code verifier.", 501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization "
        "request."),
    "redirect_mismatch": _Reason(
        "invalid_grant", 400, "The redirect_uri does not match the authorization request.",
        "Bad Request", 500112,
        "The reply address '{redirect_uri}' does not match the reply address provided when "
        "requesting Authorization code."),
    "unknown_refresh_token": _Reason(
        "invalid_grant", 400, "The refresh token is not valid.", "Bad Request", 9002313,
        _MALFORMED_MS),
    "refresh_other_client": _Reason(
        "invalid_grant", 400, "The refresh token was issued to another client.",
        "Unauthorized", 9002313, _MALFORMED_MS),
    "refresh_token_reused": _Reason(
        "invalid_grant", 400,
        "The refresh token was already used; use the one issued with it.",
        _GOOGLE_EXPIRED, 70000,
        "The provided grant is not valid: the refresh token was already redeemed."),
    "grant_revoked": _Reason(
        "invalid_grant", 400, "The grant has been revoked.", _GOOGLE_EXPIRED, 50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is "
        "needed. The user might have changed or reset their password. The grant was issued "
        "on '{issued}' and the TokensValidFrom date (before which tokens are not valid) for "
        "this user is '{valid_from}'."),
    "grant_expired": _Reason(
        "invalid_grant", 400, "The grant has expired.", _GOOGLE_EXPIRED, 70008, _EXPIRED_MS),
    "refresh_token_idle": _Reason(
        "invalid_grant", 400, "The refresh token expired after {idle} of inactivity.",
        _GOOGLE_EXPIRED, 700082,
        "The refresh token has expired due to inactivity. The token was issued on "
        "{issued} and was inactive for {idle}."),
    "scope_not_granted": _Reason(
        "invalid_scope", 400, "The scope '{scope}' was not granted.", "Bad Request", 70011,
        "The provided value for the input parameter 'scope' is not valid. The scope "
        "'{scope}' is not valid."),
    "app_scope": _Reason(
        "invalid_scope", 400, "The scope '{scope}' is not valid for client credentials.",
        "Bad Request", 1002012,
        "The provided value for scope {scope} is not valid. Client credential flows must "
        "have a scope value with /.default suffixed to the resource identifier "
        "(application ID URI)."),
    "public_client_credentials": _Reason(
        "unauthorized_client", 400, "A public client cannot use client credentials.",
        "Unauthorized", 7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.", microsoft_error="invalid_client", microsoft_status=401),
    "unknown_tenant": _Reason(
        "invalid_request", 400, "Unknown tenant '{tenant}'.", "Bad Request", 90002,
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud. Check with your subscription administrator, "
        "this may happen if there are no active subscriptions for the tenant."),
    "single_tenant_app": _Reason(
        "invalid_request", 400, "The client is not multi-tenant.", "Bad Request", 50194,
        "Application '{client_id}' is not configured as a multi-tenant application. Usage "
        "of the /common endpoint is not supported for such applications created after "
        "'10/15/2018'. Use a tenant-specific endpoint or configure the application to be "
        "multi-tenant."),
    "redirect_uri_not_registered": _Reason(
        "invalid_request", 400, "The redirect_uri '{redirect_uri}' is not registered.",
        "redirect_uri_mismatch", 50011,
        "The redirect URI '{redirect_uri}' specified in the request does not match the "
        "redirect URIs configured for the application '{client_id}'."),
    "unsupported_response_type": _Reason(
        "unsupported_response_type", 400, "Only response_type=code is supported.",
        "Invalid response_type: {response_type}", 700054,
        "response_type '{response_type}' is not enabled for the application."),
    "pkce_required": _Reason(
        "invalid_request", 400, "code_challenge is required (PKCE, RFC 7636).",
        "Missing required parameter: code_challenge", 9002325,
        "Proof Key for Code Exchange is required for cross-origin authorization code "
        "redemption."),
    "pkce_method": _Reason(
        "invalid_request", 400, "code_challenge_method must be S256.",
        "Invalid code_challenge_method", 501491,
        "Invalid code_challenge_method '{method}': only S256 is supported."),
    "access_denied": _Reason(
        "access_denied", 400, "The user denied the request.", "The user denied access.",
        65004, "User declined to consent to access the app."),
}  # fmt: skip


class ConsentError(Exception):
    """The consent page did not redirect back: its status and text say why."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"consent page answered {status}: {text}")
        self.status = status
        self.text = text


class TokenServer:
    """An OAuth 2.0 authorization server with introspection on 127.0.0.1; see the module doc."""

    def __init__(
        self, *, tenant_domain: str = DEFAULT_TENANT_DOMAIN, folder: Path | None = None
    ) -> None:
        """`folder` holds the TLS certificate and key (a new temporary folder by default);
        it is removed at stop()."""
        self.tenant_id = str(uuid.uuid4())
        self.tenant_domain = tenant_domain
        # Seconds to wait before answering an introspection: a slow identity provider.
        self.introspection_delay = 0.0
        self.code_lifetime = 600.0
        self.default_access_token_lifetime = 3600.0
        # A refresh token unused for longer than this is refused (Microsoft: AADSTS700082).
        self.refresh_token_max_idle: float | None = None
        # An HTTP status (e.g. 503): the token endpoint answers with it and a gateway's
        # HTML page, as a provider behind a failing proxy does.
        self.token_endpoint_outage: int | None = None
        self._lock = threading.Lock()
        self._clients: dict[str, RegisteredClient] = {}
        self._users: dict[str, str] = {}  # address -> object id
        self._consents: dict[str, _Consent] = {}
        self._codes: dict[str, _Code] = {}
        self._grants: dict[str, _Grant] = {}
        self._refresh_tokens: dict[str, tuple[str, bool]] = {}  # token -> (grant id, spent)
        self._tokens: dict[str, _AccessToken] = {}
        self._counts: Counter[str] = Counter()
        self._id_token_key = secrets.token_bytes(32)
        self._http = LoopbackHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._https: LoopbackHTTPServer | None = None
        self._folder = folder
        self._tls_dir: Path | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        https = self._https.server_address[1] if self._https is not None else None
        return f"TokenServer(http_port={self.port}, https_port={https})"

    # -- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def introspection_url(self) -> str:
        """Plain HTTP, for Dovecot's oauth2 passdb."""
        return f"http://127.0.0.1:{self.port}/introspect"

    @property
    def base_url(self) -> str:
        """The HTTPS origin the OAuth clients use (Microsoft: the authority host)."""
        if self._https is None:
            raise RuntimeError("the token server is not started")
        return f"https://127.0.0.1:{self._https.server_address[1]}"

    @property
    def cafile(self) -> str:
        """The self-signed certificate of the HTTPS listener, for clients to trust."""
        if self._tls_dir is None:
            raise RuntimeError("the token server is not started")
        return str(self._tls_dir / "cert.pem")

    def server_tls(self) -> ssl.SSLContext:
        """A server context with this server's certificate, for the fakes of the services
        the tokens open (Graph, EWS): one `cafile` then trusts them all."""
        if self._tls_dir is None:
            raise RuntimeError("the token server is not started")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._tls_dir / "cert.pem", self._tls_dir / "key.pem")
        return context

    def endpoints(self, style: Style, tenant: str | None = None) -> Endpoints:
        base = self.base_url
        if style == "microsoft":
            prefix = f"{base}/{tenant or self.tenant_id}/oauth2/v2.0"
            return Endpoints(f"{prefix}/authorize", f"{prefix}/token")
        if style == "google":
            return Endpoints(f"{base}/o/oauth2/v2/auth", f"{base}/token")
        return Endpoints(f"{base}/oauth2/authorize", f"{base}/oauth2/token")

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> TokenServer:
        if self._folder is None:
            self._tls_dir = Path(tempfile.mkdtemp(prefix="dm-tokens-"))
        else:
            self._tls_dir = self._folder
            self._tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        context = _self_signed_context(self._tls_dir)
        self._https = LoopbackHTTPServer(("127.0.0.1", 0), _handler_for(self), tls=context)
        for name, listener in (("token-server", self._http), ("token-server-tls", self._https)):
            thread = threading.Thread(
                target=listener.serve_forever, args=(0.05,), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for listener in (self._http, self._https):
            if listener is not None and self._threads:
                listener.shutdown()
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._http.server_close()
        if self._https is not None:
            self._https.server_close()
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)

    # -- registration -------------------------------------------------------------------

    def register_client(
        self,
        client_id: str | None = None,
        *,
        public: bool = False,
        redirect_uris: Iterable[str] = (DEFAULT_REDIRECT_URI,),
        access_token_lifetime: float | None = None,
        rotate_refresh_tokens: bool = True,
        multitenant: bool = False,
        app_mailbox: str | None = None,
        refresh_token_lifetime: float | None = None,
    ) -> RegisteredClient:
        """Register an application; a confidential one gets a random secret."""
        client = RegisteredClient(
            client_id=client_id or str(uuid.uuid4()),
            secret=None if public else "cs_" + secrets.token_urlsafe(24),
            redirect_uris=tuple(redirect_uris),
            access_token_lifetime=(
                self.default_access_token_lifetime
                if access_token_lifetime is None
                else access_token_lifetime
            ),
            rotate_refresh_tokens=rotate_refresh_tokens,
            multitenant=multitenant,
            app_mailbox=app_mailbox.lower() if app_mailbox else None,
            refresh_token_lifetime=refresh_token_lifetime,
        )
        with self._lock:
            self._clients[client.client_id] = client
        return client

    def set_access_token_lifetime(self, client_id: str, seconds: float) -> None:
        """Change how long the client's next access tokens last."""
        with self._lock:
            client = self._clients[client_id]
            self._clients[client_id] = dataclasses.replace(client, access_token_lifetime=seconds)

    def add_user(self, address: str) -> str:
        """A user who can sign in on the consent page; their tokens open `address` in Dovecot."""
        with self._lock:
            return self._users.setdefault(address.lower(), str(uuid.uuid4()))

    # -- test switches ------------------------------------------------------------------

    def issue(self, username: str, expires_in: float = 3600) -> str:
        """A bearer token for username, outside any grant; a negative `expires_in` is expired."""
        with self._lock:
            return self._new_access_token(username.lower(), expires_in, None, (), None)

    def revoke(self, token: str) -> None:
        """Forget one access token: introspection then calls it inactive."""
        with self._lock:
            self._tokens.pop(token, None)

    def revoke_grants(self, username: str, client_id: str | None = None) -> int:
        """Revoke the user's grants (a password reset): their tokens stop working; how many."""
        return self._end_grants(username, client_id, "revoked")

    def expire_grants(self, username: str, client_id: str | None = None) -> int:
        """Let the user's grants expire: refreshing is refused; how many."""
        return self._end_grants(username, client_id, "expired")

    # -- counters -----------------------------------------------------------------------

    @property
    def tokens_issued(self) -> int:
        """Access tokens issued, by every grant and by `issue()`."""
        with self._lock:
            return self._counts["tokens_issued"]

    def refreshes(self, client_id: str) -> int:
        """Successful refresh-token grants for the client."""
        with self._lock:
            return self._counts[f"refresh:{client_id}"]

    def refused(self, error: str) -> int:
        """Token requests refused with this OAuth error code (e.g. `invalid_grant`)."""
        with self._lock:
            return self._counts[f"refused:{error}"]

    def requests(self, path: str) -> int:
        """Requests received for a path (without the query)."""
        with self._lock:
            return self._counts[f"path:{path}"]

    # -- introspection (RFC 7662) ---------------------------------------------------------

    def introspect(self, token: str) -> dict[str, object]:
        with self._lock:
            record = self._tokens.get(token)
        if record is None or record.expires <= time.time():
            return {"active": False}
        answer: dict[str, object] = {
            "active": True,
            "username": record.username,
            "exp": int(record.expires),
            "token_type": "Bearer",
        }
        if record.client_id:
            answer["client_id"] = record.client_id
        if record.scope:
            answer["scope"] = " ".join(record.scope)
        return answer

    # -- the browser's part -------------------------------------------------------------

    def consent(
        self, authorize_url: str, *, login: str | None = None, approve: bool = True
    ) -> dict[str, str]:
        """Play the user's browser: open the consent page, submit its form, read the redirect.

        Fills the account field with `login` (else keeps what the page suggests), presses
        "Approve" or "Deny", and returns the query parameters the server redirected back
        with (`code` and `state`, or `error`). Raises ConsentError when no redirect comes.
        """
        context = ssl.create_default_context(cafile=self.cafile)
        page_url = urlsplit(authorize_url)
        status, _, page = _fetch(context, "GET", authorize_url)
        if status != 200:
            raise ConsentError(status, page)
        form = _ConsentForm.read(page)
        fields = dict(form.fields)
        if login is not None:
            fields["login"] = login
        fields.update(form.button("Approve" if approve else "Deny"))
        action = f"{page_url.scheme}://{page_url.netloc}{form.action}"
        status, location, page = _fetch(context, "POST", action, urlencode(fields))
        if status != 302 or location is None:
            raise ConsentError(status, page)
        return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}

    # -- the authorization endpoint -------------------------------------------------------

    def _begin_consent(self, style: Style, tenant: str, query: Mapping[str, str]) -> _Consent:
        """Validate an authorization request (RFC 6749 section 4.1.1, RFC 7636 section 4.3).

        Raises _PageError where the user must not be sent back (unknown client, unregistered
        redirect URI, unknown tenant) and _RedirectError for errors the client hears about.
        """
        client_id = query.get("client_id", "")
        with self._lock:
            client = self._clients.get(client_id)
        if style == "microsoft":
            self._check_tenant(tenant, client)
        if client is None:
            raise _PageError(Refusal("unknown_client", client_id=client_id, tenant=tenant))
        redirect_uri = query.get("redirect_uri") or (
            client.redirect_uris[0] if len(client.redirect_uris) == 1 else ""
        )
        if redirect_uri not in client.redirect_uris:
            raise _PageError(
                Refusal("redirect_uri_not_registered", redirect_uri=redirect_uri,
                        client_id=client_id)
            )  # fmt: skip
        state = query.get("state")

        def refuse(reason: str, **details: str) -> _RedirectError:
            return _RedirectError(redirect_uri, state, Refusal(reason, **details))

        response_type = query.get("response_type", "")
        if response_type != "code":
            raise refuse("unsupported_response_type", response_type=response_type)
        if not query.get("code_challenge"):
            raise refuse("pkce_required")
        method = query.get("code_challenge_method", "plain")
        if method != "S256":
            raise refuse("pkce_method", method=method)
        scope = tuple(query.get("scope", "").split())
        if not scope:
            raise refuse("missing_parameter", name="scope")
        if style == "microsoft":
            offline = "offline_access" in scope
        elif style == "google":
            offline = query.get("access_type") == "offline"
        else:
            offline = True
        return _Consent(
            client=client,
            style=style,
            tenant=tenant,
            redirect_uri=redirect_uri,
            redirect_uri_given="redirect_uri" in query,
            state=state,
            challenge=query["code_challenge"],
            scope=scope,
            nonce=query.get("nonce"),
            login_hint=query.get("login_hint", ""),
            offline=offline,
            created=time.time(),
        )

    def _check_tenant(self, tenant: str, client: RegisteredClient | None) -> None:
        if tenant.lower() in ("common", "organizations"):
            if client is not None and not client.multitenant:
                raise _PageError(Refusal("single_tenant_app", client_id=client.client_id))
        elif tenant.lower() not in (self.tenant_id, self.tenant_domain.lower()):
            raise _PageError(Refusal("unknown_tenant", tenant=tenant))

    def _hold_consent(self, consent: _Consent) -> str:
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._consents[request_id] = consent
        return request_id

    def _decide(self, form: Mapping[str, str]) -> tuple[_Consent, str | None, Refusal | None]:
        """The user's answer on the consent page: (request, code or None, refusal or None).

        Raises _PageError when the request is unknown and _ConsentProblem to show the page
        again (an account that does not exist).
        """
        with self._lock:
            consent = self._consents.pop(form.get("request", ""), None)
        if consent is None or consent.created + self.code_lifetime < time.time():
            raise _PageError(Refusal("missing_parameter", name="request"))
        if form.get("decision") != "approve":
            return consent, None, Refusal("access_denied")
        login = form.get("login", "").strip().lower()
        with self._lock:
            known = login in self._users
            if known:
                code = "code_" + secrets.token_urlsafe(32)
                self._codes[code] = _Code(
                    client_id=consent.client.client_id,
                    username=login,
                    redirect_uri=consent.redirect_uri if consent.redirect_uri_given else None,
                    challenge=consent.challenge,
                    scope=consent.scope,
                    nonce=consent.nonce,
                    offline=consent.offline,
                    issued=time.time(),
                )
                self._counts["codes_issued"] += 1
        if not known:
            retry = self._hold_consent(consent)
            raise _ConsentProblem(consent, retry, f"There is no account {login!r} here.")
        return consent, code, None

    # -- the token endpoint ---------------------------------------------------------------

    def _token(
        self, style: Style, tenant: str, form: Mapping[str, str], basic: tuple[str, str] | None
    ) -> dict[str, object]:
        """One token request (RFC 6749 sections 4.1.3, 4.4.2 and 6); raises Refusal."""
        if style == "microsoft":
            with self._lock:
                client_or_none = self._clients.get(form.get("client_id", ""))
            try:
                self._check_tenant(tenant, client_or_none)
            except _PageError as error:
                raise error.refusal from None
        client = self._authenticate(tenant, form, basic)
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise Refusal("missing_parameter", name="grant_type")
        if grant_type == "authorization_code":
            return self._redeem_code(style, client, form)
        if grant_type == "refresh_token":
            return self._refresh(style, client, form)
        if grant_type == "client_credentials" and style != "google":
            return self._client_credentials(style, client, form)
        raise Refusal("unsupported_grant_type", grant_type=grant_type)

    def _authenticate(
        self, tenant: str, form: Mapping[str, str], basic: tuple[str, str] | None
    ) -> RegisteredClient:
        """Client authentication: HTTP Basic or the form's client_secret (section 2.3.1)."""
        client_id, secret = basic if basic else (form.get("client_id", ""), None)
        if secret is None:
            secret = form.get("client_secret")
        if not client_id:
            raise Refusal("missing_parameter", name="client_id")
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            raise Refusal("unknown_client", client_id=client_id, tenant=tenant)
        if client.secret is not None:
            if not secret:
                raise Refusal("missing_client_secret", client_id=client_id)
            if not hmac.compare_digest(secret.encode(), client.secret.encode()):
                raise Refusal("bad_client_secret", client_id=client_id)
        return client

    def _redeem_code(
        self, style: Style, client: RegisteredClient, form: Mapping[str, str]
    ) -> dict[str, object]:
        value = form.get("code", "")
        if not value:
            raise Refusal("missing_parameter", name="code")
        with self._lock:
            code = self._codes.get(value)
            if code is None:
                raise Refusal("unknown_code")
            if code.client_id != client.client_id:
                raise Refusal("code_other_client")
            if code.used:
                # RFC 6749 section 4.1.2: revoke what was issued with a code used twice.
                if code.grant_id in self._grants:
                    self._grants[code.grant_id].state = "revoked"
                    self._forget_access_tokens(self._grants[code.grant_id])
                if code.access_token:
                    self._tokens.pop(code.access_token, None)
                raise Refusal("code_reused")
            if code.issued + self.code_lifetime < time.time():
                raise Refusal("code_expired")
            if code.redirect_uri is not None and form.get("redirect_uri") != code.redirect_uri:
                raise Refusal("redirect_mismatch", redirect_uri=form.get("redirect_uri", ""))
            if not _pkce_matches(form.get("code_verifier", ""), code.challenge):
                raise Refusal("pkce_mismatch")
            code.used = True
            grant = self._new_grant(client, code.username, code.scope) if code.offline else None
            answer = self._answer(style, client, code.username, code.scope, grant, code.nonce)
            code.grant_id = grant.grant_id if grant else None
            code.access_token = str(answer["access_token"])
        if style == "microsoft" and form.get("client_info") == "1":
            answer["client_info"] = self._client_info(code.username)
        return answer

    def _refresh(
        self, style: Style, client: RegisteredClient, form: Mapping[str, str]
    ) -> dict[str, object]:
        value = form.get("refresh_token", "")
        if not value:
            raise Refusal("missing_parameter", name="refresh_token")
        now = time.time()
        with self._lock:
            grant_id, spent = self._refresh_tokens.get(value, ("", False))
            grant = self._grants.get(grant_id)
            if grant is None:
                raise Refusal("unknown_refresh_token")
            if grant.client_id != client.client_id:
                raise Refusal("refresh_other_client")
            if grant.state == "revoked":
                raise Refusal(
                    "grant_revoked", issued=_ms_time(grant.issued), valid_from=_ms_time(now)
                )
            lifetime = client.refresh_token_lifetime
            if grant.state == "expired" or (
                lifetime is not None and now >= grant.issued + lifetime
            ):
                raise Refusal("grant_expired")
            if spent:
                self._counts["refresh_token_reuse"] += 1
                raise Refusal("refresh_token_reused")
            idle = now - grant.last_used
            if self.refresh_token_max_idle is not None and idle > self.refresh_token_max_idle:
                raise Refusal(
                    "refresh_token_idle", issued=_ms_time(grant.issued), idle=_ms_span(idle)
                )
            scope = tuple(form.get("scope", "").split()) or grant.scope
            extra = set(scope) - set(grant.scope)
            if extra:
                raise Refusal("scope_not_granted", scope=" ".join(sorted(extra)))
            grant.last_used = now
            if client.rotate_refresh_tokens:
                self._refresh_tokens[value] = (grant.grant_id, True)
                grant.refresh_token = None
            answer = self._answer(style, client, grant.username, scope, grant, None)
            if not client.rotate_refresh_tokens:
                answer.pop("refresh_token", None)  # as Google: keep using the one you have
            self._counts[f"refresh:{client.client_id}"] += 1
        if style == "microsoft" and form.get("client_info") == "1":
            answer["client_info"] = self._client_info(grant.username)
        return answer

    def _client_credentials(
        self, style: Style, client: RegisteredClient, form: Mapping[str, str]
    ) -> dict[str, object]:
        if client.secret is None:
            raise Refusal("public_client_credentials")
        scope = tuple(form.get("scope", "").split())
        if style == "microsoft" and (len(scope) != 1 or not scope[0].endswith("/.default")):
            raise Refusal("app_scope", scope=" ".join(scope))
        with self._lock:
            return self._answer(style, client, client.app_mailbox or client.client_id, scope,
                                None, None)  # fmt: skip

    # -- issuing (callers hold the lock) --------------------------------------------------

    def _answer(
        self,
        style: Style,
        client: RegisteredClient,
        username: str,
        scope: tuple[str, ...],
        grant: _Grant | None,
        nonce: str | None,
    ) -> dict[str, object]:
        lifetime = client.access_token_lifetime
        grant_id = grant.grant_id if grant else None
        token = self._new_access_token(username, lifetime, client.client_id, scope, grant_id)
        expires_in = max(0, math.ceil(lifetime))
        answer: dict[str, object] = {"token_type": "Bearer", "scope": " ".join(scope)}
        answer["expires_in"] = expires_in
        if style == "microsoft":
            answer["ext_expires_in"] = expires_in
        answer["access_token"] = token
        if grant is not None:
            if grant.refresh_token is None:
                grant.refresh_token = "rt_" + secrets.token_urlsafe(32)
                self._refresh_tokens[grant.refresh_token] = (grant.grant_id, False)
            answer["refresh_token"] = grant.refresh_token
            if client.refresh_token_lifetime is not None:
                left = grant.issued + client.refresh_token_lifetime - time.time()
                answer["refresh_token_expires_in"] = max(0, math.floor(left))
        if "openid" in scope and username in self._users:
            answer["id_token"] = self._id_token(style, client, username, nonce)
        return answer

    def _new_access_token(
        self,
        username: str,
        lifetime: float,
        client_id: str | None,
        scope: tuple[str, ...],
        grant_id: str | None,
    ) -> str:
        token = "tok_" + secrets.token_urlsafe(24)
        self._tokens[token] = _AccessToken(
            username, time.time() + lifetime, client_id, scope, grant_id
        )
        if grant_id is not None:
            self._grants[grant_id].access_tokens.add(token)
        self._counts["tokens_issued"] += 1
        return token

    def _new_grant(self, client: RegisteredClient, username: str, scope: tuple[str, ...]) -> _Grant:
        now = time.time()
        grant = _Grant("g_" + secrets.token_hex(8), client.client_id, username, scope, now, now)
        self._grants[grant.grant_id] = grant
        return grant

    def _end_grants(self, username: str, client_id: str | None, state: str) -> int:
        ended = 0
        with self._lock:
            for grant in self._grants.values():
                if grant.username == username.lower() and client_id in (None, grant.client_id):
                    grant.state = "revoked" if state == "revoked" else "expired"
                    if state == "revoked":
                        self._forget_access_tokens(grant)
                    ended += 1
        return ended

    def _forget_access_tokens(self, grant: _Grant) -> None:
        for token in grant.access_tokens:
            self._tokens.pop(token, None)
        grant.access_tokens.clear()

    def _issuer(self, style: Style) -> str:
        if style == "microsoft":
            return f"{self.base_url}/{self.tenant_id}/v2.0"
        return self.base_url

    def _id_token(
        self, style: Style, client: RegisteredClient, username: str, nonce: str | None
    ) -> str:
        """An OpenID Connect ID token (HS256 with a key of the server's: not for verifying)."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self._issuer(style),
            "aud": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": self._users[username],
        }
        if nonce:
            claims["nonce"] = nonce
        if style == "microsoft":
            claims |= {
                "ver": "2.0",
                "tid": self.tenant_id,
                "oid": self._users[username],
                "preferred_username": username,
                "name": username.split("@")[0],
            }
        else:
            claims |= {"email": username, "email_verified": True, "azp": client.client_id}
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(self._id_token_key, f"{header}.{payload}".encode(), "sha256")
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def _client_info(self, username: str) -> str:
        """Microsoft's client_info: the user's object id and tenant, base64url JSON."""
        with self._lock:
            uid = self._users.get(username, username)
        return _b64(json.dumps({"uid": uid, "utid": self.tenant_id}).encode())

    def _openid_configuration(self, tenant: str) -> dict[str, object]:
        """The tenant's OpenID configuration, as MSAL fetches it to learn the endpoints."""
        if tenant.lower() not in ("common", "organizations"):
            self._check_tenant(tenant, None)
            tenant = self.tenant_id
        issuer_tenant = "{tenantid}" if tenant.lower() in ("common", "organizations") else tenant
        authorize, token = self.endpoints("microsoft", tenant)
        return {
            "issuer": f"{self.base_url}/{issuer_tenant}/v2.0",
            "authorization_endpoint": authorize,
            "token_endpoint": token,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "scopes_supported": sorted(OIDC_SCOPES),
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "code_challenge_methods_supported": ["S256"],
            "tenant_region_scope": None,
            "cloud_instance_name": "127.0.0.1",
        }

    def _instance_metadata(self, authorization_endpoint: str) -> dict[str, object]:
        """Microsoft's instance discovery: where the tenant's OpenID configuration is.

        MSAL asks it only when given `instance_discovery=<this URL>`; by default it asks
        login.microsoftonline.com about any host it does not know, so a client of this
        server passes `instance_discovery=False` instead.
        """
        parts = urlsplit(authorization_endpoint).path.split("/")
        tenant = parts[1] if len(parts) > 1 and parts[1] else "common"
        host = urlsplit(self.base_url).netloc
        return {
            "tenant_discovery_endpoint": (
                f"{self.base_url}/{tenant}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    # -- error bodies ---------------------------------------------------------------------

    def _error_body(
        self, style: Style, refusal: Refusal, correlation_id: str | None = None
    ) -> tuple[int, dict[str, object]]:
        """The status and JSON body for a refusal: RFC 6749 section 5.2 in the style's words."""
        reason = REASONS[refusal.reason]
        details = refusal.details
        if style == "microsoft":
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            trace_id, correlation = str(uuid.uuid4()), correlation_id or str(uuid.uuid4())
            text = reason.microsoft.format(**details)
            body: dict[str, object] = {
                "error": reason.microsoft_error or reason.error,
                "error_description": (
                    f"AADSTS{reason.aadsts}: {text}\r\nTrace ID: {trace_id}\r\n"
                    f"Correlation ID: {correlation}\r\nTimestamp: {now}"
                ),
                "error_codes": [reason.aadsts],
                "timestamp": now,
                "trace_id": trace_id,
                "correlation_id": correlation,
                "error_uri": f"{self.base_url}/error?code={reason.aadsts}",
            }
            return reason.microsoft_status or reason.status, body
        text = (reason.google if style == "google" else reason.generic).format(**details)
        return reason.status, {"error": reason.error, "error_description": text}

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1


class _PageError(Exception):
    """An authorization error shown to the user instead of redirecting (section 4.1.2.1)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class _RedirectError(Exception):
    def __init__(self, redirect_uri: str, state: str | None, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.redirect_uri = redirect_uri
        self.state = state
        self.refusal = refusal


class _ConsentProblem(Exception):
    def __init__(self, consent: _Consent, request_id: str, problem: str) -> None:
        super().__init__(problem)
        self.consent = consent
        self.request_id = request_id
        self.problem = problem


_MICROSOFT = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/(?P<endpoint>authorize|token)$")
_MICROSOFT_DISCOVERY = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_ROUTES: dict[str, tuple[Style, str]] = {
    "/o/oauth2/v2/auth": ("google", "authorize"),
    "/token": ("google", "token"),
    "/revoke": ("google", "revoke"),
    "/oauth2/authorize": ("generic", "authorize"),
    "/oauth2/token": ("generic", "token"),
    "/oauth2/revoke": ("generic", "revoke"),
}


def _route(path: str) -> tuple[Style, str, str] | None:
    """(style, endpoint, tenant) for a path, or None."""
    if path in _ROUTES:
        style, endpoint = _ROUTES[path]
        return style, endpoint, ""
    found = _MICROSOFT.match(path)
    if found:
        return "microsoft", found["endpoint"], unquote(found["tenant"])
    if path == "/common/discovery/instance":
        return "microsoft", "instance", "common"
    found = _MICROSOFT_DISCOVERY.match(path)
    if found:
        return "microsoft", "openid-configuration", unquote(found["tenant"])
    return None


def _handler_for(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "deskmail-test-oauth/2"
        timeout = 10  # a client that stops talking does not hold a thread for long

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output quiet

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            server._count(f"path:{url.path}")
            query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            route = _route(url.path)
            if route is None or route[1] not in ("authorize", "openid-configuration", "instance"):
                self._json(404, {"error": "not_found"})
                return
            style, endpoint, tenant = route
            if endpoint == "instance":
                self._json(200, server._instance_metadata(query.get("authorization_endpoint", "")))
                return
            if endpoint == "openid-configuration":
                try:
                    self._json(200, server._openid_configuration(tenant))
                except _PageError as error:
                    self._json(*server._error_body(style, error.refusal))
                return
            try:
                consent = server._begin_consent(style, tenant, query)
            except _PageError as error:
                self._error_page(style, error.refusal)
                return
            except _RedirectError as error:
                self._redirect_error(style, error.redirect_uri, error.state, error.refusal)
                return
            self._page(200, _consent_page(url.path, consent, server._hold_consent(consent), ""))

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            server._count(f"path:{url.path}")
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._json(413, {"error": "invalid_request"})
                return
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            field = {key: values[0] for key, values in form.items()}
            if url.path == "/introspect":
                time.sleep(server.introspection_delay)
                self._json(200, server.introspect(field.get("token", "")))
                return
            route = _route(url.path)
            if route is None or route[1] == "openid-configuration":
                self._json(404, {"error": "not_found"})
                return
            style, endpoint, tenant = route
            if endpoint == "authorize":
                self._decision(style, url.path, field)
            elif endpoint == "revoke":
                self._revoke(field)
            else:
                self._token(style, tenant, field)

        def _decision(self, style: Style, path: str, form: Mapping[str, str]) -> None:
            try:
                consent, code, refusal = server._decide(form)
            except _PageError as error:
                self._error_page(style, error.refusal)
                return
            except _ConsentProblem as problem:
                page = _consent_page(path, problem.consent, problem.request_id, problem.problem)
                self._page(200, page)
                return
            if refusal is not None:
                self._redirect_error(style, consent.redirect_uri, consent.state, refusal)
                return
            params = {"code": code or ""}
            if consent.state is not None:
                params["state"] = consent.state
            if style == "microsoft":
                params["session_state"] = str(uuid.uuid4())
            self._redirect(consent.redirect_uri, params)

        def _token(self, style: Style, tenant: str, form: Mapping[str, str]) -> None:
            if server.token_endpoint_outage is not None:
                status = server.token_endpoint_outage
                self._page(status, _PAGE.format(title=str(status), body="<h1>Unavailable</h1>"))
                return
            basic = _basic_credentials(self.headers.get("Authorization", ""))
            try:
                self._json(200, server._token(style, tenant, form, basic), no_store=True)
            except Refusal as refusal:
                status, body = server._error_body(
                    style, refusal, self.headers.get("client-request-id")
                )
                server._count(f"refused:{body['error']}")
                headers = {"WWW-Authenticate": 'Basic realm="token"'} if status == 401 else {}
                self._json(status, body, no_store=True, headers=headers)

        def _revoke(self, form: Mapping[str, str]) -> None:
            """RFC 7009: revoke the grant a refresh or access token belongs to; 200 regardless."""
            token = form.get("token", "")
            with server._lock:
                record = server._tokens.pop(token, None)
                grant_id = server._refresh_tokens.get(token, ("", False))[0]
                grant = server._grants.get(grant_id or (record and record.grant_id) or "")
                if grant is not None:
                    grant.state = "revoked"
                    server._forget_access_tokens(grant)
            self._json(200, {})

        def _redirect_error(
            self, style: Style, redirect_uri: str, state: str | None, refusal: Refusal
        ) -> None:
            _, body = server._error_body(style, refusal)
            params = {
                "error": str(body["error"]),
                "error_description": str(body["error_description"]),
            }
            if style == "google":
                params.pop("error_description")  # Google sends the bare error code back
            if style == "microsoft" and refusal.reason == "access_denied":
                params["error_subcode"] = "cancel"
            if state is not None:
                params["state"] = state
            self._redirect(redirect_uri, params)

        def _error_page(self, style: Style, refusal: Refusal) -> None:
            status, body = server._error_body(style, refusal)
            text = html.escape(str(body["error_description"]))
            error = html.escape(str(body["error"]))
            self._page(
                400, _PAGE.format(title="Sign-in error", body=f"<h1>{error}</h1><p>{text}</p>")
            )

        def _redirect(self, target: str, params: Mapping[str, str]) -> None:
            joiner = "&" if urlsplit(target).query else "?"
            self.send_response(302)
            self.send_header("Location", f"{target}{joiner}{urlencode(params)}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _page(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _json(
            self,
            status: int,
            body: Mapping[str, object],
            *,
            no_store: bool = False,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if no_store:  # RFC 6749 section 5.1
                self.send_header("Cache-Control", "no-store")
                self.send_header("Pragma", "no-cache")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
{body}
</body>
</html>
"""


def _consent_page(path: str, consent: _Consent, request_id: str, problem: str) -> str:
    """The consent form: the account to sign in as, the scopes asked for, Approve / Deny."""
    scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in consent.scope)
    problem_html = f'<p class="error" role="alert">{html.escape(problem)}</p>' if problem else ""
    body = f"""<h1>Sign in to {html.escape(consent.client.client_id)}</h1>
{problem_html}<form method="post" action="{html.escape(path)}">
<input type="hidden" name="request" value="{html.escape(request_id)}">
<p><label for="login">Account</label>
<input type="email" id="login" name="login" value="{html.escape(consent.login_hint)}" required></p>
<p>The application asks for:</p>
<ul id="scopes">{scopes}</ul>
<p><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></p>
</form>"""
    return _PAGE.format(title="Sign in - deskmail test identity provider", body=body)


class _ConsentForm(HTMLParser):
    """The consent page's form, read as a browser would: action, fields and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: list[dict[str, str]] = []
        self._button: dict[str, str] | None = None

    @classmethod
    def read(cls, page: str) -> _ConsentForm:
        form = cls()
        form.feed(page)
        form.close()
        if not form.action or not form.buttons:
            raise ConsentError(200, f"no consent form on the page: {page}")
        return form

    def button(self, label: str) -> dict[str, str]:
        for button in self.buttons:
            if button.get("text", "").strip() == label and "name" in button:
                return {button["name"]: button.get("value", "")}
        raise ConsentError(200, f"no {label!r} button on the consent page")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = attributes.get("action", "")
        elif tag == "input" and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "button":
            self._button = dict(attributes, text="")
            self.buttons.append(self._button)

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None


def _fetch(
    context: ssl.SSLContext, method: str, url: str, body: str | None = None
) -> tuple[int, str | None, str]:
    """One HTTPS request without following redirects: (status, Location, text)."""
    parts = urlsplit(url)
    connection = http.client.HTTPSConnection(
        parts.hostname or "", parts.port, context=context, timeout=10
    )
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.getheader("Location"), reply.read().decode()
    finally:
        connection.close()


def _pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 section 4.6: BASE64URL(SHA256(code_verifier)) == code_challenge."""
    if not _VERIFIER.match(verifier):
        return False
    return hmac.compare_digest(_b64(hashlib.sha256(verifier.encode()).digest()), challenge)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """client_id and secret from HTTP Basic, form-urlencoded first (RFC 6749 section 2.3.1)."""
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _ms_time(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")


def _ms_span(seconds: float) -> str:
    """A duration as .NET writes TimeSpan: d.hh:mm:ss."""
    whole = int(seconds)
    return f"{whole // 86400:02d}.{whole // 3600 % 24:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deskmail test identity provider")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
