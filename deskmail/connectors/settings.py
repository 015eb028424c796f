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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Protocol = Literal["imap", "pop3", "graph", "ews", "forward"]
OutboundProtocol = Literal["smtp", "graph", "ews"]
Security = Literal["ssl", "starttls", "none"]
Auth = Literal["password", "oauth2"]

_SKIP_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_AFTER_FETCH = re.compile(r"^(mark_seen|leave|delete|move:.+)$")


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

    @field_validator("after_fetch")
    @classmethod
    def _after_fetch(cls, value: str) -> str:
        if not _AFTER_FETCH.match(value):
            raise ValueError("expected mark_seen, leave, delete or move:FOLDER")
        return value

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
        return self

    def default_port(self) -> int:
        if self.port:
            return self.port
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

    def default_port(self) -> int:
        if self.port:
            return self.port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.security]
