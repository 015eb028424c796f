"""Webhook endpoints (admins): register, change, remove; the delivery log; send again."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from deskmail.api.auth import actor
from deskmail.api.v1.shapes import Shape
from deskmail.api.v1.types import Id
from deskmail.services import webhooks
from deskmail.webhooks.models import Attempt, Delivery, Endpoint

router = Router(tags=["webhooks"])

EventKind = Literal[
    "ticket.created",
    "ticket.updated",
    "message.received",
    "message.sent",
    "message.failed",
    "note.created",
    "mailbox.failed",
    "mailbox.recovered",
    "mailbox.sign_in_ending",
    "channel.switched",
]


class EndpointOut(Shape):
    id: int
    url: str
    description: str
    events: list[str] = Field(description="empty: every event")
    mailboxes: list[str] = Field(description="empty: every mailbox")
    allow_private_addresses: bool
    status: str = Field(description="active or disabled")
    disabled_reason: str
    disabled_at: dt.datetime | None
    consecutive_failures: int
    failing_since: dt.datetime | None
    last_success_at: dt.datetime | None
    created_at: dt.datetime


def _out(row: Endpoint) -> EndpointOut:
    return EndpointOut(
        id=row.pk,
        url=row.url,
        description=row.description,
        events=list(row.events or []),
        mailboxes=sorted(m.name for m in row.mailboxes.all()),
        allow_private_addresses=row.allow_private_addresses,
        status=row.status,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        consecutive_failures=row.consecutive_failures,
        failing_since=row.failing_since,
        last_success_at=row.last_success_at,
        created_at=row.created_at,
    )


class EndpointIn(Schema):
    url: str = Field(max_length=2000, description="https:// (or http://) and a public host")
    events: list[EventKind] = Field([], description="left out or empty: every event")
    mailboxes: list[str] = Field([], description="mailbox names; empty: every mailbox")
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="left out: one is made and shown once"
    )
    allow_private_addresses: bool = Field(
        False, description="allow loopback, private and link-local addresses (an admin's choice)"
    )
    description: str = Field("", max_length=300)


class NewEndpointOut(EndpointOut):
    secret: str = Field(description="the signing secret: shown now, and never again")


class EndpointPatch(Schema):
    url: str | None = Field(None, max_length=2000)
    events: list[EventKind] | None = None
    mailboxes: list[str] | None = None
    secret: str | None = Field(None, min_length=16, max_length=200)
    allow_private_addresses: bool | None = None
    description: str | None = Field(None, max_length=300)
    enabled: bool | None = Field(None, description="true enables it again and clears failures")


@router.get("/webhooks", response=list[EndpointOut], summary="Webhook endpoints (admins)")
def list_webhooks(request: HttpRequest) -> list[EndpointOut]:
    return [_out(row) for row in webhooks.endpoints(actor(request))]


@router.post("/webhooks", response={201: NewEndpointOut}, summary="Register an endpoint (admins)")
def create_webhook(request: HttpRequest, response: HttpResponse, payload: EndpointIn) -> Any:
    """It receives the events that happen from now on, signed with its secret."""
    row, secret = webhooks.create(
        actor(request),
        payload.url,
        events=payload.events,
        mailboxes=payload.mailboxes,
        secret=payload.secret,
        allow_private_addresses=payload.allow_private_addresses,
        description=payload.description,
    )
    response["Location"] = f"/api/v1/webhooks/{row.pk}"
    response["Cache-Control"] = "no-store"
    return Status(201, NewEndpointOut(**_out(row).model_dump(), secret=secret))


@router.get("/webhooks/{pk}", response=EndpointOut, summary="One endpoint (admins)")
def get_webhook(request: HttpRequest, pk: Id) -> EndpointOut:
    return _out(webhooks.endpoint(actor(request), pk))


@router.patch("/webhooks/{pk}", response=EndpointOut, summary="Change an endpoint (admins)")
def update_webhook(request: HttpRequest, pk: Id, payload: EndpointPatch) -> EndpointOut:
    change = webhooks.Change(
        url=payload.url,
        events=list(payload.events) if payload.events is not None else None,
        mailboxes=payload.mailboxes,
        secret=payload.secret,
        allow_private_addresses=payload.allow_private_addresses,
        description=payload.description,
        enabled=payload.enabled,
    )
    return _out(webhooks.update(actor(request), pk, change))


@router.delete("/webhooks/{pk}", response={204: None}, summary="Remove an endpoint (admins)")
def delete_webhook(request: HttpRequest, pk: Id) -> Status[None]:
    webhooks.delete(actor(request), pk)
    return Status(204, None)


class AttemptOut(Shape):
    attempted_at: dt.datetime
    ok: bool
    status_code: int | None
    duration_ms: int
    response: str = Field(description="the first bytes of the receiver's answer")
    error: str


class DeliveryOut(Shape):
    id: str = Field(description="the Deskmail-Delivery header")
    event: str
    event_id: int
    status: str = Field(description="pending, delivered or failed (given up)")
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_duration_ms: int | None
    last_response: str
    last_error: str


class DeliveryDetail(DeliveryOut):
    body: dict[str, Any] = Field(description="what is POSTed")
    attempt_log: list[AttemptOut]


def _delivery(row: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=str(row.delivery_id),
        event=row.kind,
        event_id=row.event_id,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_duration_ms=row.last_duration_ms,
        last_response=row.last_response,
        last_error=row.last_error,
    )


def _attempt(row: Attempt) -> AttemptOut:
    return AttemptOut(
        attempted_at=row.attempted_at,
        ok=row.ok,
        status_code=row.status_code,
        duration_ms=row.duration_ms,
        response=row.response,
        error=row.error,
    )


def _detail(row: Delivery) -> DeliveryDetail:
    return DeliveryDetail(
        **_delivery(row).model_dump(),
        body=dict(row.body or {}),
        attempt_log=[_attempt(a) for a in row.attempt_log.order_by("id")],
    )


class DeliveryQuery(Schema):
    status: Literal["pending", "delivered", "failed"] | None = None
    cursor: str | None = Field(None, max_length=30)
    limit: int = Field(50, ge=1, le=webhooks.MAX_LIMIT)


class DeliveryPage(Shape):
    items: list[DeliveryOut]
    next_cursor: str | None


@router.get("/webhooks/{pk}/deliveries", response=DeliveryPage, summary="The delivery log (admins)")
def list_deliveries(request: HttpRequest, pk: Id, filters: Query[DeliveryQuery]) -> DeliveryPage:
    """Newest first: status, attempts, response time and the head of the receiver's answer."""
    page = webhooks.deliveries(
        actor(request), pk, status=filters.status, limit=filters.limit, after=filters.cursor
    )
    return DeliveryPage(items=[_delivery(d) for d in page.items], next_cursor=page.next_cursor)


@router.get(
    "/webhooks/{pk}/deliveries/{delivery_id}",
    response=DeliveryDetail,
    summary="One delivery with every attempt (admins)",
)
def get_delivery(request: HttpRequest, pk: Id, delivery_id: str) -> DeliveryDetail:
    return _detail(webhooks.delivery(actor(request), pk, delivery_id))


@router.post(
    "/webhooks/{pk}/deliveries/{delivery_id}/redeliver",
    response=DeliveryDetail,
    summary="Send a delivery again (admins)",
)
def redeliver(request: HttpRequest, pk: Id, delivery_id: str) -> DeliveryDetail:
    return _detail(webhooks.redeliver(actor(request), pk, delivery_id))
