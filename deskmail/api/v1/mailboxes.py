"""Mailboxes: the caller's list; configuration, health and switching for admins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router

from deskmail.api.auth import actor
from deskmail.api.v1.shapes import Shape
from deskmail.mailboxes.models import Mailbox
from deskmail.services import access, mailbox_admin

router = Router(tags=["mailboxes"])


class MailboxOut(Shape):
    name: str
    key: str
    address: str
    display_name: str
    status: str


def _out(row: Mailbox) -> MailboxOut:
    return MailboxOut(
        name=row.name,
        key=row.key,
        address=row.address,
        display_name=str((row.config or {}).get("display_name") or ""),
        status=row.status,
    )


class HealthOut(Shape):
    status: str
    failed_reason: str
    last_sync_at: dt.datetime | None
    last_error: str = Field(description="the server's own words")
    last_error_at: dt.datetime | None
    consecutive_failures: int
    outbox_pending: int
    outbox_failed: int
    has_inbound_secret: bool
    has_outbound_secret: bool


class MailboxDetail(MailboxOut):
    config: dict[str, Any] = Field(description="the configuration, as YAML loads it; no secrets")
    health: HealthOut


@router.get("/mailboxes", response=list[MailboxOut], summary="Mailboxes")
def list_mailboxes(request: HttpRequest) -> list[MailboxOut]:
    """The mailboxes the caller works in (every one, for an admin)."""
    return [_out(row) for row in access.mailboxes(actor(request)).order_by("name")]


def _health(who: Any, name: str) -> HealthOut:
    found = mailbox_admin.health(who, name)
    return HealthOut(**found.__dict__)


@router.get("/mailboxes/{name}", response=MailboxDetail, summary="A mailbox (admins)")
def get_mailbox(request: HttpRequest, name: str) -> MailboxDetail:
    who = actor(request)
    row, config = mailbox_admin.configured(who, name)
    return MailboxDetail(**_out(row).model_dump(), config=config, health=_health(who, name))


@router.get("/mailboxes/{name}/health", response=HealthOut, summary="A mailbox's health (admins)")
def get_mailbox_health(request: HttpRequest, name: str) -> HealthOut:
    return _health(actor(request), name)


@router.post("/mailboxes/{name}/enable", response=MailboxOut, summary="Switch on (admins)")
def enable_mailbox(request: HttpRequest, name: str) -> MailboxOut:
    """Active again; a failed mailbox's failure count is cleared and the worker retries it."""
    return _out(mailbox_admin.set_enabled(actor(request), name, True))


@router.post("/mailboxes/{name}/disable", response=MailboxOut, summary="Switch off (admins)")
def disable_mailbox(request: HttpRequest, name: str) -> MailboxOut:
    return _out(mailbox_admin.set_enabled(actor(request), name, False))
