"""How to reach a mailbox's server: the connection part of a mailbox's configuration.

These are the `inbound` and `outbound` sections of the mailbox YAML
(DESIGN.md), as pydantic models. The connectors read them and nothing else of
the mailbox; the rest of the schema (filters, threading, tickets, replies)
lives with the mailboxes (`deskmail.mailboxes.config`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Protocol = Literal["imap", "pop3", "graph", "ews", "forward"]
OutboundProtocol = Literal["smtp", "graph", "ews"]
Security = Literal["ssl", "starttls", "none"]
Auth = Literal["password", "oauth2"]

_SKIP_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_AFTER_FETCH = re.compile(r"^(mark_seen|mark_read|leave|delete|move:.+)$")
GRAPH_URL = "https://graph.microsoft.com/v1.0"


class Strict(BaseModel):
    """Unknown keys are refused, so a typo is an error rather than a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InboundConfig(Strict):
    protocol: Protocol
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    security: Security = "ssl"
    # Off only for self-signed test or internal servers; never turned off by itself.
    verify_certificate: bool = True
    username: str | None = None
    auth: Auth = "password"
    password_env: str | None = None
    oauth_provider: str | None = None
    folder: str = "INBOX"
    after_fetch: str = "mark_seen"
    idle: bool = True
    poll_seconds: Annotated[int, Field(ge=1)] = 60
    sync_since: dt.date | None = None
    header_filter: str | None = None
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10
    auth_timeout_s: Annotated[float, Field(gt=0)] = 5
    max_tries: Annotated[int, Field(ge=1)] = 3
    cool_off_minutes: Annotated[float, Field(ge=0)] = 5
    skip_times: list[str] = []
    duplicate_check: bool = True
    # Sessions one worker keeps open at once to this account (host, port, username):
    # the server's cap. Unset: 15 for Gmail, 1 for POP3, else 10 (Dovecot's default).
    max_sessions: Annotated[int, Field(ge=1)] | None = None
    # Graph and EWS: the mailbox read (and sent from), e.g. a shared mailbox's address;
    # the mailbox's own address when unset.
    user: str | None = None
    # Graph's service root: https://graph.microsoft.com/v1.0 unless a national cloud's.
    graph_url: str | None = None
    ews_url: str | None = None
    # Graph: deskmail's public HTTPS base URL, for change notifications; else delta polling.
    notifications_url: str | None = None

    @field_validator("after_fetch")
    @classmethod
    def _after_fetch(cls, value: str) -> str:
        if not _AFTER_FETCH.match(value):
            raise ValueError("expected mark_seen (or mark_read), leave, delete or move:FOLDER")
        # One name for one action: Graph and EWS call it read, IMAP seen.
        return "mark_seen" if value == "mark_read" else value

    @field_validator("skip_times")
    @classmethod
    def _skip_times(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _SKIP_TIME.match(item):
                raise ValueError(f"{item!r} is not a time range like 02:00-04:00")
        return value

    @model_validator(mode="after")
    def _server_needed(self) -> InboundConfig:
        if self.protocol in ("imap", "pop3") and not self.host:
            raise ValueError(f"host is required for {self.protocol}")
        if self.protocol == "ews" and not self.ews_url:
            raise ValueError(
                "ews_url is required for ews, typically https://mail.example.com/EWS/Exchange.asmx"
            )
        if self.protocol == "graph":
            _check_url("graph_url", self.graph_url or GRAPH_URL, self.security)
            if self.notifications_url is not None:
                _check_url("notifications_url", self.notifications_url, self.security)
        if self.protocol == "ews" and self.ews_url:
            _check_url("ews_url", self.ews_url, self.security)
        return self

    def service_url(self) -> str | None:
        """Graph's or EWS's URL, for the protocols that speak HTTP."""
        return {"graph": self.graph_url or GRAPH_URL, "ews": self.ews_url}.get(self.protocol)

    def default_port(self) -> int:
        if self.port:
            return self.port
        url = self.service_url()
        if url:
            return _url_port(url)
        table = {
            ("imap", "ssl"): 993,
            ("imap", "starttls"): 143,
            ("imap", "none"): 143,
            ("pop3", "ssl"): 995,
            ("pop3", "starttls"): 110,
            ("pop3", "none"): 110,
        }
        return table.get((self.protocol, self.security), 0)


class OutboundConfig(Strict):
    protocol: OutboundProtocol = "smtp"
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    security: Security = "ssl"
    verify_certificate: bool = True
    auth: Auth = "password"
    username: str | None = None
    password_env: str | None = None
    oauth_provider: str | None = None
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10
    # Append a copy of each sent mail to the IMAP Sent folder (IMAP mailboxes only).
    save_to_sent: str | None = None
    # Graph and EWS; unset, they come from the inbound section (`sending_config`).
    user: str | None = None
    graph_url: str | None = None
    ews_url: str | None = None

    @model_validator(mode="after")
    def _urls(self) -> OutboundConfig:
        for name in ("graph_url", "ews_url"):
            value = getattr(self, name)
            if value is not None:
                _check_url(name, value, self.security)
        return self

    def service_url(self) -> str | None:
        """Graph's or EWS's URL, for the protocols that speak HTTP."""
        return {"graph": self.graph_url or GRAPH_URL, "ews": self.ews_url}.get(self.protocol)

    def default_port(self) -> int:
        if self.port:
            return self.port
        url = self.service_url()
        if url:
            return _url_port(url)
        return {"ssl": 465, "starttls": 587, "none": 25}[self.security]


def sending_config(outbound: OutboundConfig, inbound: InboundConfig | None) -> OutboundConfig:
    """The outbound settings to send with, the inbound account's filled in where it is the same.

    `outbound: {protocol: graph}` (or ews) on a mailbox read over that protocol
    sends through the same account: its URL, user, security and login, unless
    the outbound section names its own.
    """
    if inbound is None or outbound.protocol != inbound.protocol or outbound.password_env:
        return outbound
    return outbound.model_copy(
        update={
            "user": outbound.user or inbound.user,
            "graph_url": outbound.graph_url or inbound.graph_url,
            "ews_url": outbound.ews_url or inbound.ews_url,
            "username": outbound.username or inbound.username,
            "security": inbound.security,
            "verify_certificate": inbound.verify_certificate,
            "auth": inbound.auth,
            "connect_timeout_s": inbound.connect_timeout_s,
        }
    )


def borrows_inbound_login(outbound: OutboundConfig, inbound: InboundConfig | None) -> bool:
    """Whether sending logs in as the inbound account (see `sending_config`)."""
    return (
        inbound is not None
        and outbound.protocol == inbound.protocol
        and outbound.protocol in ("graph", "ews")
        and not outbound.password_env
    )


class OAuthSettings(Strict):
    """OAuth2 for a mailbox with `auth: oauth2`: whose token, from which provider.

    `grant: user` (delegated): a person signed in once with the authorization-code
    flow (the console's "Connect", or `deskmail mailboxes authorize`); deskmail keeps
    the refresh token, encrypted, and refreshes the access token ahead of expiry.
    `grant: app` (RFC 6749 section 4.4, client credentials): for Microsoft 365
    tenants that grant the application permissions (`Mail.ReadWrite`, `Mail.Send`)
    rather than a user's delegated ones.

    The client secret is either stored encrypted with the account (entered in the
    console or by `deskmail mailboxes authorize`) or read from the environment
    variable `client_secret_env` (or the file `<name>_FILE` names) of the process
    that needs a token; a public client (PKCE, no secret) has neither.
    """

    grant: Literal["app", "user"] = "app"
    provider: Literal["microsoft", "google", "generic"] = "microsoft"
    client_id: Annotated[str, Field(min_length=1)]
    client_secret_env: str | None = None
    # Microsoft: the tenant's id or domain (never a silent `common`).
    tenant: str | None = None
    # Empty: for `app`, `https://graph.microsoft.com/.default` for Graph and Exchange's
    # for EWS; for `user`, the provider's mail scopes (IMAP, POP3, SMTP, offline access).
    scope: list[str] = []
    # Microsoft: a national cloud's sign-in host, or a local test server.
    authority_host: str | None = None
    # Google (to override) and generic providers: the authorization and token endpoints.
    auth_url: str | None = None
    token_url: str | None = None
    # Where the provider sends the browser back: deskmail's `/oauth/callback/`.
    redirect_uri: str | None = None
    # Google's "testing" publishing status: refresh tokens end after 7 days.
    testing_app: bool = False

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value


def _check_url(name: str, url: str, security: Security) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} {url!r} is not an http(s) URL")
    if parts.scheme == "http" and security != "none":
        raise ValueError(
            f"{name} {url!r} is not encrypted: use https, or security: none only for a "
            "test server on a trusted network"
        )


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
