"""Webhook endpoints: who may register them (admins) and what a valid one is.

An endpoint names a URL, a secret for the signature, the event kinds and the
mailboxes it wants (none: all). It receives only what happens after it was
registered, and nothing while it is disabled (what was pending then waits
for it to be enabled again). Its URL must be http(s) and, unless the admin
allows private addresses for it, must not name a loopback, private or
link-local address; the sender checks the resolved addresses again at every
delivery.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from deskmail.events import log
from deskmail.events.models import Event
from deskmail.mailboxes.models import Mailbox
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.webhooks import send
from deskmail.webhooks.addresses import why_private
from deskmail.webhooks.models import Delivery, Endpoint
from deskmail.webhooks.signing import new_secret

EVENT_KINDS = tuple(Event.Kind.values)
MIN_SECRET = 16
MAX_LIMIT = 500


def endpoints(actor: Actor) -> QuerySet[Endpoint]:
    access.require_admin(actor)
    return Endpoint.objects.prefetch_related("mailboxes").order_by("id")


def endpoint(actor: Actor, pk: int) -> Endpoint:
    found = endpoints(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no webhook {pk}")
    return found


def _url(url: str, allow_private: bool) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid(f"{url!r} is not a URL", field="url") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Invalid("a webhook URL starts with https:// (or http://) and a host", field="url")
    if len(url) > 2000:
        raise Invalid("a webhook URL has at most 2000 characters", field="url")
    if parts.username or parts.password:
        raise Invalid("a webhook URL carries no user name or password", field="url")
    if port == 0:
        raise Invalid("a webhook URL's port is 1 to 65535", field="url")
    if not allow_private:
        host = parts.hostname
        reason = None
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            reason = why_private(host)
        except ValueError:
            if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
                reason = f"{host} is a local name"
        if reason:
            raise Invalid(
                f"{reason}; webhooks go only to public addresses unless private ones are "
                "allowed for this endpoint (allow_private_addresses)",
                field="url",
            )
    return url


def _events(kinds: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(kinds))
    for kind in wanted:
        if kind not in EVENT_KINDS:
            raise Invalid(
                f"no event {kind!r}; the events are {', '.join(EVENT_KINDS)}", field="events"
            )
    return wanted


def _mailboxes(actor: Actor, names: Iterable[str]) -> list[Mailbox]:
    found = []
    for name in dict.fromkeys(names):
        try:
            found.append(access.mailbox(actor, name))
        except NotFound:
            raise Invalid(f"no mailbox named {name!r}", field="mailboxes") from None
    return found


def _secret(secret: str | None) -> str:
    if secret is None:
        return new_secret()
    if len(secret) < MIN_SECRET or len(secret) > 200:
        raise Invalid(
            f"a webhook secret has {MIN_SECRET} to 200 characters (or leave it out to get one)",
            field="secret",
        )
    return secret


def create(
    actor: Actor,
    url: str,
    *,
    events: Iterable[str] = (),
    mailboxes: Iterable[str] = (),
    secret: str | None = None,
    allow_private_addresses: bool = False,
    description: str = "",
) -> tuple[Endpoint, str]:
    """Register an endpoint; the secret (given or made) is returned for showing once."""
    access.require_admin(actor)
    chosen = _secret(secret)
    with transaction.atomic():
        row = Endpoint.objects.create(
            url=_url(url, allow_private_addresses),
            description=description.strip()[:300],
            secret=chosen,
            events=_events(events),
            allow_private_addresses=allow_private_addresses,
            created_by_id=actor.user_id,
            after_event=log.latest(),
        )
        row.mailboxes.set(_mailboxes(actor, mailboxes))
    return endpoint(actor, row.pk), chosen


@dataclass(frozen=True)
class Change:
    """None leaves a field as it is."""

    url: str | None = None
    events: list[str] | None = None
    mailboxes: list[str] | None = None
    secret: str | None = None
    allow_private_addresses: bool | None = None
    description: str | None = None
    enabled: bool | None = None


def update(actor: Actor, pk: int, change: Change) -> Endpoint:
    row = endpoint(actor, pk)
    allow = (
        change.allow_private_addresses
        if change.allow_private_addresses is not None
        else row.allow_private_addresses
    )
    with transaction.atomic():
        row.allow_private_addresses = allow
        row.url = _url(change.url if change.url is not None else row.url, allow)
        if change.events is not None:
            row.events = _events(change.events)
        if change.secret is not None:
            row.secret = _secret(change.secret)
        if change.description is not None:
            row.description = change.description.strip()[:300]
        if change.enabled is True and row.status != Endpoint.Status.ACTIVE:
            row.status, row.disabled_reason, row.disabled_at = Endpoint.Status.ACTIVE, "", None
            row.consecutive_failures, row.failing_since, row.paused_until = 0, None, None
        elif change.enabled is False and row.status != Endpoint.Status.DISABLED:
            row.status = Endpoint.Status.DISABLED
            row.disabled_reason, row.disabled_at = f"disabled by {actor.name}", timezone.now()
        row.save()
        if change.mailboxes is not None:
            row.mailboxes.set(_mailboxes(actor, change.mailboxes))
    return endpoint(actor, pk)


def delete(actor: Actor, pk: int) -> None:
    endpoint(actor, pk).delete()


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None


def deliveries(
    actor: Actor, pk: int, *, status: str | None = None, limit: int = 50, after: str | None = None
) -> DeliveryPage:
    """The endpoint's delivery log, newest first; the cursor is the last row's id."""
    row = endpoint(actor, pk)
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    query = row.deliveries.all()
    if status is not None:
        if status not in Delivery.Status.values:
            raise Invalid(f"no delivery status {status!r}", field="status")
        query = query.filter(status=status)
    if after:
        if not after.isdigit() or len(after) > 18:
            raise Invalid("the cursor is not one this list gave out", field="cursor")
        query = query.filter(id__lt=int(after))
    rows = list(query.order_by("-id")[: limit + 1])
    items = rows[:limit]
    return DeliveryPage(items, str(items[-1].pk) if len(rows) > limit else None)


def delivery(actor: Actor, pk: int, delivery_id: str) -> Delivery:
    row = endpoint(actor, pk)
    found = row.deliveries.filter(delivery_id=delivery_id).first() if _uuid(delivery_id) else None
    if found is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {pk}")
    return found


def redeliver(actor: Actor, pk: int, delivery_id: str) -> Delivery:
    """Send a delivery again, whatever became of it."""
    found = delivery(actor, pk, delivery_id)
    send.redeliver(found)
    return found


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
