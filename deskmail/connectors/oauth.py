"""OAuth2 for mailboxes: authorization code with PKCE, refresh with rotation, app-only tokens.

The rest of deskmail calls four functions and never sees a library:

    pending = start_authorization(provider, state, login_hint="support@example.com")
    # keep pending.verifier server-side (the session); send the browser to pending.url
    tokens = finish_authorization(provider, pending.verifier, request.GET)
    tokens = refresh(provider, stored_refresh_token)   # store tokens.refresh_token first!
    tokens = client_credentials(provider)              # app-only, no refresh token

Libraries: MSAL (`msal`) for Microsoft, Authlib's requests client for Google
and generic RFC 6749 providers. No token request is written by hand.

Why the shape differs a little from "code in, tokens out":
- `finish_authorization()` takes the whole callback query, not just the code:
  it checks `state` against the pending request (CSRF) and turns an
  `error=access_denied` redirect into an OAuthError with the provider's words.
- `PendingAuthorization.verifier` is opaque. For Microsoft it holds MSAL's
  auth code flow record (PKCE verifier, nonce, state), which MSAL needs back
  whole to redeem the code and check the ID token's nonce; for the others the
  PKCE verifier and state. Keep it server-side; it never goes to the browser.
- Microsoft is configured by `tenant` (the tenant's id or domain; there is no
  default, and so no silent `/common`) and `authority_host` (national clouds,
  the test server), not by endpoint URLs: MSAL reads the endpoints from the
  tenant's OpenID configuration.

Refresh tokens and MSAL. MSAL keeps refresh tokens inside its token cache and
refreshes silently; deskmail instead keeps each mailbox's refresh token in its
own database, encrypted, and refreshes under the mailbox's lease. So refreshing
uses `acquire_token_by_refresh_token()`, whose result is the token endpoint's
answer as sent, rotated `refresh_token` included: nothing to dig out of a cache,
and no second copy of the token to keep in step with the database. (A serialised
cache per account would work too, but it is an opaque blob holding the same
refresh token plus access and ID tokens, and which refresh token is current is
MSAL's decision, not visible to the caller.) The MSAL application object is
kept per provider (it fetched the tenant's OpenID configuration once) with a
token cache that stores nothing, so no token lingers in this process.

Other choices, each forced by something that was tried:
- Authorization responses come back in the query (`response_mode=query`).
  MSAL warns unless `form_post` is used, but a cross-site form POST to the
  console's callback carries no `SameSite=Lax` session cookie, so the pending
  request could not be found; the warning is silenced around that one call.
- For an authority host MSAL does not know (the test server, a private
  deployment) it would ask login.microsoftonline.com whether the host is
  valid; `instance_discovery=False` makes it trust the configured host.
- The CA bundle and timeout are passed with every request: requests lets
  `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` from the environment override a
  session's `verify`.

Errors are one OAuthError. Its message keeps the provider's own words (for
Microsoft the `AADSTSnnnn:` code and text), `reauthorize` says the user must
sign in again (invalid_grant: revoked, expired or already used refresh token,
declined consent), and network failures and 5xx answers are temporary.
Tokens, codes and secrets never appear in a repr or an error message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hmac
import json
import re
import secrets
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

if TYPE_CHECKING:
    import requests

# MSAL, Authlib and requests are imported where a token is asked for, not with this
# module: the settings models here are read by every command, the libraries by few.

ProviderKind = Literal["microsoft", "google", "generic"]

MICROSOFT_AUTHORITY_HOST = "https://login.microsoftonline.com"
GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
DEFAULT_SCOPES: dict[ProviderKind, tuple[str, ...]] = {
    "microsoft": (
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    ),
    # openid + email: the ID token names the account that consented.
    "google": ("https://mail.google.com/", "openid", "email"),
    "generic": (),
}
# MSAL adds these to every request itself and refuses them in its input.
_MSAL_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
# RFC 6749 section 5.2 and OpenID Connect errors that only a new sign-in can fix.
_REAUTHORIZE = frozenset(
    {"invalid_grant", "access_denied", "interaction_required", "consent_required",
     "login_required"}
)  # fmt: skip
_TEMPORARY = frozenset({"temporarily_unavailable", "server_error", "slow_down"})
_NAMES: dict[ProviderKind, str] = {"microsoft": "Microsoft", "google": "Google", "generic": ""}


class OAuthError(Exception):
    """An OAuth2 request failed.

    `provider_error` is the OAuth error code (`invalid_grant` ...) and
    `description` the provider's own text (`AADSTS70008: ...`); both None when
    the provider was not reached. `permanent`: retrying the same request cannot
    help. `reauthorize`: the user has to sign in and consent again.
    """

    def __init__(
        self,
        message: str,
        *,
        provider_error: str | None = None,
        description: str | None = None,
        permanent: bool,
        reauthorize: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider_error = provider_error
        self.description = description
        self.permanent = permanent
        self.reauthorize = reauthorize

    def __repr__(self) -> str:
        return (
            f"OAuthError({self.message!r}, provider_error={self.provider_error!r}, "
            f"permanent={self.permanent}, reauthorize={self.reauthorize})"
        )


class OAuthProvider(BaseModel):
    """Where and as whom to ask for tokens. `client_secret` is None for a public client."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ProviderKind
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    # Microsoft: the tenant's id or domain (or `organizations` / `consumers` if meant).
    tenant: str | None = None
    # Empty: the provider's mail scopes (DEFAULT_SCOPES).
    scope: tuple[str, ...] = ()
    # Microsoft: https://login.microsoftonline.com, or a national cloud's host.
    authority_host: str | None = None
    # Google (overrides) and generic providers (required).
    auth_url: str | None = None
    token_url: str | None = None
    redirect_uri: str | None = None
    # Verify the provider against this CA bundle instead of the system's.
    ca_file: str | None = None
    timeout_s: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> OAuthProvider:
        if self.kind == "microsoft":
            if not self.tenant or "/" in self.tenant:
                raise ValueError("microsoft needs the tenant's id or domain in `tenant`")
            if self.auth_url or self.token_url:
                raise ValueError(
                    "microsoft reads its endpoints from the tenant's OpenID configuration: "
                    "set `authority_host` instead of auth_url / token_url"
                )
        else:
            if self.tenant or self.authority_host:
                raise ValueError(f"{self.kind} takes no tenant or authority_host")
            if self.kind == "generic" and not (self.auth_url and self.token_url):
                raise ValueError("generic needs auth_url and token_url")
        for url in (self.authority_host, self.auth_url, self.token_url):
            if url is not None and urlsplit(url).scheme != "https":
                raise ValueError(f"OAuth endpoints must use https: {url}")
        return self

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.scope or DEFAULT_SCOPES[self.kind]

    @property
    def authority(self) -> str:
        """Microsoft: the authority URL MSAL is given (host and tenant)."""
        host = (self.authority_host or MICROSOFT_AUTHORITY_HOST).rstrip("/")
        return f"{host}/{self.tenant}"

    @property
    def authorization_endpoint(self) -> str:
        return self.auth_url or GOOGLE_AUTH_URL

    @property
    def token_endpoint(self) -> str:
        return self.token_url or GOOGLE_TOKEN_URL

    @property
    def name(self) -> str:
        """How messages name the provider: `Microsoft`, `Google` or the token URL's host."""
        return _NAMES[self.kind] or urlsplit(self.token_endpoint).netloc


@dataclass(frozen=True)
class TokenSet:
    """Tokens from one answer of the token endpoint.

    `refresh_token` is the rotated one whenever the provider sent a new one, else the
    one used; store it before using the access token. `expires_at` is None when the
    provider did not say. `account` is the address of the user who signed in, from the
    ID token the provider sent over TLS (OpenID Connect Core 3.1.3.7), when it sent one.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: dt.datetime | None
    scope: tuple[str, ...]
    account: str | None = None
    # When the refresh token itself ends, if the provider said (Google's
    # `refresh_token_expires_in` for apps in testing, Microsoft's for some grants).
    refresh_expires_at: dt.datetime | None = None

    def expires_within(self, seconds: float) -> bool:
        if self.expires_at is None:
            return False
        return self.expires_at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class PendingAuthorization:
    """A started sign-in: send the browser to `url`; keep `verifier` server-side for the end."""

    url: str
    state: str
    verifier: str = field(repr=False)


# -- the four operations -------------------------------------------------------------------


def start_authorization(
    provider: OAuthProvider, state: str | None = None, *, login_hint: str | None = None
) -> PendingAuthorization:
    """The authorization request (RFC 6749 section 4.1.1) with PKCE S256 (RFC 7636)."""
    if not provider.redirect_uri:
        raise OAuthError(
            "The provider has no redirect_uri for the sign-in to come back to.", permanent=True
        )
    state = state or secrets.token_urlsafe(24)
    if provider.kind == "microsoft":
        with _failures(provider, "Preparing the sign-in"):
            app = _msal_app(provider)
            with warnings.catch_warnings():
                # See the module docstring: query, not form_post.
                warnings.filterwarnings("ignore", "response_mode='form_post'", UserWarning)
                flow = app.initiate_auth_code_flow(
                    _msal_scopes(provider),
                    redirect_uri=provider.redirect_uri,
                    state=state,
                    login_hint=login_hint,
                )
        return PendingAuthorization(str(flow["auth_uri"]), state, json.dumps(flow))
    code_verifier = secrets.token_urlsafe(64)
    extra: dict[str, str] = {"login_hint": login_hint} if login_hint else {}
    if provider.kind == "google":
        # A refresh token only comes with offline access, and again only with consent.
        extra |= {"access_type": "offline", "prompt": "consent"}
    with _authlib_session(provider, scope=provider.scopes) as session:
        url, _ = session.create_authorization_url(
            provider.authorization_endpoint, state=state, code_verifier=code_verifier, **extra
        )
    flow = {"state": state, "code_verifier": code_verifier}
    return PendingAuthorization(str(url), state, json.dumps(flow))


def finish_authorization(
    provider: OAuthProvider, verifier: str, callback: Mapping[str, str]
) -> TokenSet:
    """Redeem the code the browser came back with (`callback`: the redirect's query)."""
    doing = "Completing the sign-in"
    try:
        flow = json.loads(verifier)
        expected_state = str(flow["state"])
    except (ValueError, KeyError, TypeError):
        raise OAuthError(
            f"{doing}: the pending sign-in is unreadable; start again.",
            permanent=True,
            reauthorize=True,
        ) from None
    if not hmac.compare_digest(str(callback.get("state", "")).encode(), expected_state.encode()):
        raise OAuthError(
            f"{doing}: the answer does not belong to this sign-in (state mismatch); start again.",
            permanent=True,
            reauthorize=True,
        )
    if callback.get("error"):
        raise _refusal(provider, doing, dict(callback), ())
    code = callback.get("code", "")
    if not code:
        raise OAuthError(
            f"{doing}: the provider sent no authorization code; start again.",
            permanent=True,
            reauthorize=True,
        )
    hidden = (code, str(flow.get("code_verifier", "")))
    started = time.time()
    with _failures(provider, doing, hidden):
        if provider.kind == "microsoft":
            answer = _msal_app(provider).acquire_token_by_auth_code_flow(flow, dict(callback))
        else:
            with _authlib_session(provider) as session:
                answer = session.fetch_token(
                    provider.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=flow["code_verifier"],
                    **_request_options(provider),
                )
    return _token_set(provider, doing, answer, started, None, hidden)


def refresh(provider: OAuthProvider, refresh_token: str) -> TokenSet:
    """A new access token (RFC 6749 section 6), and the rotated refresh token if one came.

    Call it under the mailbox's lease: with rotation, two refreshes racing with the
    same refresh token leave one of them with invalid_grant.
    """
    doing = "Refreshing the access token"
    hidden = (refresh_token,)
    started = time.time()
    with _failures(provider, doing, hidden):
        if provider.kind == "microsoft":
            answer = _msal_app(provider).acquire_token_by_refresh_token(
                refresh_token, _msal_scopes(provider)
            )
        else:
            with _authlib_session(provider) as session:
                answer = session.refresh_token(
                    provider.token_endpoint,
                    refresh_token=refresh_token,
                    **_request_options(provider),
                )
    return _token_set(provider, doing, answer, started, refresh_token, hidden)


def client_credentials(provider: OAuthProvider, scope: Sequence[str] | None = None) -> TokenSet:
    """An app-only access token (RFC 6749 section 4.4); Microsoft wants `<resource>/.default`."""
    doing = "Getting an app-only access token"
    scopes = tuple(scope or provider.scopes)
    started = time.time()
    with _failures(provider, doing):
        if provider.kind == "microsoft":
            answer = _msal_app(provider).acquire_token_for_client(list(scopes))
        else:
            with _authlib_session(provider, scope=scopes) as session:
                answer = session.fetch_token(
                    provider.token_endpoint,
                    grant_type="client_credentials",
                    **_request_options(provider),
                )
    return _token_set(provider, doing, answer, started, None, ())


# -- libraries -----------------------------------------------------------------------------


@functools.cache
def _discarding_token_cache() -> type[Any]:
    import msal

    class _DiscardingTokenCache(msal.TokenCache):  # type: ignore[misc]
        """MSAL's token cache, storing nothing: deskmail's database holds the tokens."""

        def add(self, event: Mapping[str, Any], now: float | None = None) -> None:
            pass

    return _DiscardingTokenCache


class _MsalHttpClient:
    """The `http_client` MSAL is given: requests with our CA bundle and timeout, every time."""

    def __init__(self, provider: OAuthProvider) -> None:
        import requests

        self._session = requests.Session()
        self._options = _request_options(provider)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._session.get(url, **(self._options | kwargs))

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self._session.post(url, **(self._options | kwargs))

    def close(self) -> None:
        self._session.close()


@functools.lru_cache(maxsize=32)
def _msal_app(provider: OAuthProvider) -> Any:
    """The MSAL application for a provider, made once: it fetches the OpenID configuration."""
    import msal

    host = urlsplit(provider.authority).hostname or ""
    options: dict[str, Any] = {
        "authority": provider.authority,
        "http_client": _MsalHttpClient(provider),
        "token_cache": _discarding_token_cache()(),
        # MSAL vets hosts it does not know with login.microsoftonline.com; see the docstring.
        "instance_discovery": None if host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS else False,
    }
    if provider.client_secret is None:
        return msal.PublicClientApplication(provider.client_id, **options)
    return msal.ConfidentialClientApplication(
        provider.client_id, client_credential=provider.client_secret.get_secret_value(), **options
    )


def _msal_scopes(provider: OAuthProvider) -> list[str]:
    return [scope for scope in provider.scopes if scope not in _MSAL_RESERVED_SCOPES]


def _authlib_session(provider: OAuthProvider, scope: Sequence[str] | None = None) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    secret = provider.client_secret.get_secret_value() if provider.client_secret else None
    if secret is None:
        method = "none"  # a public client names itself with client_id in the body
    elif provider.kind == "google":
        method = "client_secret_post"
    else:
        method = "client_secret_basic"  # the one every server must support (RFC 6749 2.3.1)
    return OAuth2Session(
        client_id=provider.client_id,
        client_secret=secret,
        token_endpoint_auth_method=method,
        scope=" ".join(scope) if scope else None,
        redirect_uri=provider.redirect_uri,
        code_challenge_method="S256",
    )


def _request_options(provider: OAuthProvider) -> dict[str, Any]:
    return {"verify": provider.ca_file or True, "timeout": provider.timeout_s}


# -- answers and errors --------------------------------------------------------------------


def _token_set(
    provider: OAuthProvider,
    doing: str,
    answer: Mapping[str, Any],
    started: float,
    used_refresh_token: str | None,
    hidden: Sequence[str],
) -> TokenSet:
    if "error" in answer:
        raise _refusal(provider, doing, answer, hidden)
    access_token = answer.get("access_token")
    if not access_token:
        raise OAuthError(
            f"{doing}: {provider.name} answered without an access token.", permanent=True
        )
    expires_in = answer.get("expires_in")
    expires_at = None
    if expires_in is not None:
        # From when the request was sent: the token cannot have been issued earlier.
        expires_at = dt.datetime.fromtimestamp(started + float(expires_in), dt.UTC)
    refresh_expires_in = answer.get("refresh_token_expires_in")
    refresh_expires_at = None
    if refresh_expires_in is not None:
        refresh_expires_at = dt.datetime.fromtimestamp(started + float(refresh_expires_in), dt.UTC)
    claims = answer.get("id_token_claims") or _id_token_claims(answer.get("id_token"))
    account = claims.get("preferred_username") or claims.get("email")
    return TokenSet(
        access_token=str(access_token),
        refresh_token=str(answer.get("refresh_token") or used_refresh_token or "") or None,
        expires_at=expires_at,
        scope=tuple(str(answer.get("scope") or "").split()) or provider.scopes,
        account=str(account).lower() if account else None,
        refresh_expires_at=refresh_expires_at,
    )


def _id_token_claims(id_token: object) -> dict[str, Any]:
    """The claims of an ID token, not verified (it came straight from the token endpoint)."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return {}
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _refusal(
    provider: OAuthProvider, doing: str, answer: Mapping[str, Any], hidden: Sequence[str]
) -> OAuthError:
    """The OAuthError for an error answer (RFC 6749 sections 4.1.2.1 and 5.2)."""
    error = str(answer.get("error") or "unknown_error")
    description = _scrub(str(answer.get("error_description") or ""), hidden) or None
    words = f"{error}: {description.splitlines()[0]}" if description else error
    reauthorize = error in _REAUTHORIZE
    permanent = error not in _TEMPORARY
    if reauthorize:
        action = " Sign in to the mailbox's account again to reauthorize it."
    elif permanent:
        action = " Check the OAuth settings (client id, secret, tenant, scopes)."
    else:
        action = " Will try again."
    return OAuthError(
        f"{doing}: {provider.name} refused: {words.rstrip('.')}.{action}",
        provider_error=error,
        description=description,
        permanent=permanent,
        reauthorize=reauthorize,
    )


@contextmanager
def _failures(provider: OAuthProvider, doing: str, hidden: Sequence[str] = ()) -> Iterator[None]:
    """Turn the libraries' exceptions into OAuthError; the provider's words where it sent some."""
    import msal
    import requests
    from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError

    try:
        yield
    except OAuthError:
        raise
    except AuthlibOAuthError as exc:
        answer = {"error": exc.error, "error_description": exc.description}
        raise _refusal(provider, doing, answer, hidden) from None
    except requests.exceptions.SSLError as exc:
        raise OAuthError(
            f"{doing}: the TLS connection to {provider.name} failed ({_reason(exc)}). "
            "Check the certificate or the CA bundle.",
            permanent=True,
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise OAuthError(
            f"{doing}: {provider.name} could not be reached ({_reason(exc)}). Will try again.",
            permanent=False,
        ) from None
    except requests.exceptions.HTTPError as exc:  # Authlib: a 5xx, or a 4xx without JSON
        status = exc.response.status_code if exc.response is not None else 0
        raise _http_failure(provider, doing, status) from None
    except msal.exceptions.MsalServiceError as exc:  # MSAL: a 5xx answer ("HTTP Error: 503")
        found = re.search(r"\b(\d{3})\b", str(exc))
        raise _http_failure(provider, doing, int(found[1]) if found else 500) from None
    except ValueError as exc:
        # MSAL: the tenant's OpenID configuration could not be read (unknown tenant).
        discovery = _discovery_answer(exc)
        if discovery is not None:
            raise _refusal(provider, "Looking up the tenant", discovery, hidden) from None
        raise OAuthError(f"{doing}: {_scrub(str(exc), hidden)}", permanent=True) from None
    except RuntimeError as exc:  # MSAL: the ID token's nonce did not match
        raise OAuthError(f"{doing}: {_scrub(str(exc), hidden)}", permanent=True) from None


def _http_failure(provider: OAuthProvider, doing: str, status: int) -> OAuthError:
    """An answer that is no OAuth answer: temporary for 5xx and 429 (RFC 6585), else not."""
    temporary = status >= 500 or status == 429
    return OAuthError(
        f"{doing}: {provider.name} answered HTTP {status}"
        + (". Will try again." if temporary else " without an OAuth error."),
        permanent=not temporary,
    )


_DISCOVERY_FAILED = re.compile(r"HTTP status: (?P<status>\d+), Error: (?P<body>\{.*\})", re.S)


def _discovery_answer(exc: BaseException) -> dict[str, Any] | None:
    """The provider's error answer inside MSAL's tenant discovery failure, if there is one.

    MSAL raises a generic ValueError and chains the one that quotes the answer.
    """
    seen: BaseException | None = exc
    while seen is not None:
        found = _DISCOVERY_FAILED.search(str(seen))
        if found:
            try:
                answer = json.loads(found["body"])
            except ValueError:
                return None
            return answer if isinstance(answer, dict) and "error" in answer else None
        seen = seen.__context__
    return None


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests exception, briefly."""
    inner: BaseException = exc
    while inner.__context__ is not None and inner.__context__ is not inner:
        inner = inner.__context__
    text = str(inner) or type(inner).__name__
    return text.split(": ", 1)[-1] if "Errno" in text else text


def _scrub(text: str, hidden: Sequence[str]) -> str:
    """Remove any of the request's secrets that a provider echoed back."""
    for secret in hidden:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return text
