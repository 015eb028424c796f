"""Send the deliveries that are due: what the worker calls, every few seconds.

    report = deliver_due()

Order. One sender at a time per endpoint (a lease on its row), taking
deliveries in event order, and only the first pending delivery of each ticket
(or mailbox): a ticket's second event never overtakes its first, while the
other tickets go on.

Retries. A failed delivery is tried again after a backoff (30 s doubling, at
most an hour) until a day has passed since it was made; then it is marked
failed (an admin may send it again). A failure also pauses the whole endpoint
for a short, growing time, so that a receiver that is down gets one attempt
per pause instead of one per delivery. The first success after a failure ends
the pause and makes due at once every delivery that failed because the
receiver was unavailable (no answer, 5xx, 429), so that a receiver that comes
back gets the backlog straight away, in order; one it refused (another 4xx)
keeps its own backoff.

Disabling. An endpoint that has failed without a single success for a day is
disabled, with the reason on it and an error in the log; its pending
deliveries stay and go out when an admin enables it again.

Delivery is at least once: a worker that dies after the receiver answered but
before the row says so sends that delivery again, with the same
Deskmail-Delivery id, by which the receiver can drop the repeat.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from deskmail.webhooks import signing, transport
from deskmail.webhooks.fanout import fan_out
from deskmail.webhooks.models import Attempt, Delivery, Endpoint
from deskmail.webhooks.transport import Outcome

log = logging.getLogger(__name__)

BACKOFF_FIRST = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(hours=1)
PAUSE_FIRST = dt.timedelta(seconds=10)
PAUSE_MAX = dt.timedelta(minutes=30)
GIVE_UP_AFTER = dt.timedelta(days=1)
DISABLE_AFTER = dt.timedelta(days=1)
LEASE = dt.timedelta(minutes=5)
# How long one deliver_due call may go on sending.
BUDGET_S = 20.0
HEADS = 50
# Delivered and failed deliveries (with their attempts) are kept this long.
KEEP = dt.timedelta(days=30)

Post = Callable[..., Outcome]
# When this process last pruned old deliveries (monotonic seconds).
_pruned_at: float | None = None
PRUNE_EVERY_S = 3600.0


@dataclass
class Report:
    made: int = 0
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    disabled: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.made} new, {self.delivered} delivered, {self.failed} failed "
            f"({self.given_up} given up)"
        )
        if self.disabled:
            text += f"; disabled endpoint(s) {', '.join(map(str, self.disabled))}"
        return text


def _doubled(first: dt.timedelta, times: int, most: dt.timedelta) -> dt.timedelta:
    return min(first * (1 << min(max(times - 1, 0), 30)), most)


def backoff(attempts: int) -> dt.timedelta:
    return _doubled(BACKOFF_FIRST, attempts, BACKOFF_MAX)


def pause(failures: int) -> dt.timedelta:
    return _doubled(PAUSE_FIRST, failures, PAUSE_MAX)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _claim(endpoint: Endpoint, now: dt.datetime, owner: str) -> bool:
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
    return bool(
        Endpoint.objects.filter(free, pk=endpoint.pk).update(
            lease_owner=owner, lease_until=now + LEASE
        )
    )


def _release(endpoint: Endpoint, owner: str) -> None:
    Endpoint.objects.filter(pk=endpoint.pk, lease_owner=owner).update(
        lease_owner="", lease_until=None
    )


def due_heads(endpoint: Endpoint, now: dt.datetime, limit: int = HEADS) -> list[Delivery]:
    """The first pending delivery of each ticket (or mailbox) that is due, in event order."""
    earlier = Delivery.objects.filter(
        endpoint=endpoint,
        status=Delivery.Status.PENDING,
        order_key=OuterRef("order_key"),
        id__lt=OuterRef("id"),
    ).exclude(order_key="")
    return list(
        Delivery.objects.filter(
            endpoint=endpoint, status=Delivery.Status.PENDING, next_attempt_at__lte=now
        )
        .exclude(Exists(earlier))
        .order_by("id")[:limit]
    )


def encoded(delivery: Delivery) -> bytes:
    return json.dumps(delivery.body, separators=(",", ":"), ensure_ascii=False).encode()


def headers(endpoint: Endpoint, delivery: Delivery, payload: bytes) -> dict[str, str]:
    stamp = int(time.time())
    return {
        signing.DELIVERY: str(delivery.delivery_id),
        signing.EVENT: delivery.kind,
        signing.TIMESTAMP: str(stamp),
        signing.SIGNATURE: signing.sign(str(endpoint.secret), stamp, payload),
    }


def _record(delivery: Delivery, outcome: Outcome, now: dt.datetime) -> None:
    Attempt.objects.create(
        delivery=delivery,
        attempted_at=now,
        ok=outcome.ok,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        response=outcome.response,
        error=outcome.error,
    )
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = outcome.status_code
    delivery.last_duration_ms = outcome.duration_ms
    delivery.last_response = outcome.response
    delivery.last_error = outcome.error


def _succeeded(endpoint: Endpoint, delivery: Delivery, now: dt.datetime) -> None:
    with transaction.atomic():
        delivery.status, delivery.delivered_at = Delivery.Status.DELIVERED, now
        delivery.save()
        recovering = endpoint.failing_since is not None
        endpoint.consecutive_failures, endpoint.failing_since = 0, None
        endpoint.paused_until, endpoint.last_success_at = None, now
        Endpoint.objects.filter(pk=endpoint.pk).update(
            consecutive_failures=0, failing_since=None, paused_until=None, last_success_at=now
        )
        if recovering:
            # The receiver is back: what waited for it is due now, still in order.
            unavailable = (
                Q(last_status_code__isnull=True)
                | Q(last_status_code__gte=500)
                | Q(last_status_code=429)
            )
            endpoint.deliveries.filter(unavailable, status=Delivery.Status.PENDING).update(
                next_attempt_at=now
            )


def _failed(endpoint: Endpoint, delivery: Delivery, now: dt.datetime, report: Report) -> None:
    with transaction.atomic():
        if now - delivery.created_at >= GIVE_UP_AFTER:
            delivery.status = Delivery.Status.FAILED
            report.given_up += 1
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
        delivery.save()
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.paused_until = now + pause(endpoint.consecutive_failures)
        changes: dict[str, Any] = {
            "consecutive_failures": endpoint.consecutive_failures,
            "failing_since": endpoint.failing_since,
            "paused_until": endpoint.paused_until,
        }
        if now - endpoint.failing_since >= DISABLE_AFTER:
            reason = (
                f"disabled after failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC "
                f"({endpoint.consecutive_failures} failures in a row); last: {delivery.last_error}"
            )
            changes.update(status=Endpoint.Status.DISABLED, disabled_reason=reason, disabled_at=now)
            endpoint.status = Endpoint.Status.DISABLED
            report.disabled.append(endpoint.pk)
            log.error("webhook %s (%s) %s", endpoint.pk, endpoint.url, reason)
        Endpoint.objects.filter(pk=endpoint.pk).update(**changes)


def _drain(
    endpoint: Endpoint, now: dt.datetime, deadline: float, post: Post, report: Report
) -> None:
    while time.monotonic() < deadline:
        heads = due_heads(endpoint, now)
        if not heads:
            return
        for delivery in heads:
            payload = encoded(delivery)
            outcome = post(
                endpoint.url,
                payload,
                headers(endpoint, delivery, payload),
                allow_private=endpoint.allow_private_addresses,
            )
            _record(delivery, outcome, now)
            if outcome.ok:
                _succeeded(endpoint, delivery, now)
                report.delivered += 1
            else:
                _failed(endpoint, delivery, now, report)
                report.failed += 1
                log.warning(
                    "webhook %s: delivery %s failed: %s",
                    endpoint.pk,
                    delivery.delivery_id,
                    outcome.error,
                )
                return  # paused: the rest waits for the next pass
            if time.monotonic() >= deadline:
                return


def deliver_due(
    now: dt.datetime | None = None, *, budget_s: float = BUDGET_S, post: Post = transport.post
) -> Report:
    """Fan the new events out into deliveries, then send what is due, endpoint by endpoint."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget_s
    report = Report(made=fan_out(now))
    _prune_now_and_then(now)
    owner = _worker_id()
    ready = Endpoint.objects.filter(status=Endpoint.Status.ACTIVE).filter(
        Q(paused_until__isnull=True) | Q(paused_until__lte=now)
    )
    for endpoint in ready.order_by("id"):
        if time.monotonic() >= deadline:
            break
        if not _claim(endpoint, now, owner):
            continue
        try:
            _drain(endpoint, now, deadline, post, report)
        finally:
            _release(endpoint, owner)
    return report


def redeliver(delivery: Delivery, now: dt.datetime | None = None) -> None:
    """Send a delivery again (failed, or already delivered): due now, counted afresh."""
    now = now or timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING, next_attempt_at=now, created_at=now
    )
    delivery.refresh_from_db()


def _prune_now_and_then(now: dt.datetime) -> None:
    global _pruned_at
    if _pruned_at is None or time.monotonic() - _pruned_at >= PRUNE_EVERY_S:
        _pruned_at = time.monotonic()
        prune(now)


def prune(now: dt.datetime | None = None) -> int:
    """Forget finished deliveries (and their attempts) older than KEEP."""
    cutoff = (now or timezone.now()) - KEEP
    finished = [Delivery.Status.DELIVERED, Delivery.Status.FAILED]
    deleted, _ = Delivery.objects.filter(status__in=finished, created_at__lt=cutoff).delete()
    return deleted
