"""Graph subscriptions in the database: kept by the worker, woken by the notification endpoint.

The endpoint (`views.notifications`, in the web process) only sets the mailbox's
`wake` flag. In the worker, one thread per process (`_Watcher`) looks once a second
for the flags of the mailboxes it syncs, takes them back in one statement, and wakes
those mailboxes' waits: a sleeping mailbox holds no database connection, and a
thousand of them cost one query a second.
"""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Any

from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from deskmail.connectors.graph_notifications import Needs, Subscription
from deskmail.msgraph.models import GraphSubscription

log = logging.getLogger(__name__)

WATCH_S = 1.0
_LIFECYCLE_NEEDS = {
    "reauthorizationRequired": GraphSubscription.Needs.REAUTHORIZE,
    "subscriptionRemoved": GraphSubscription.Needs.RECREATE,
}


class DatabaseSubscriptions:
    """The `SubscriptionStore` of one mailbox (deskmail.connectors.graph_notifications)."""

    def __init__(self, mailbox_id: int) -> None:
        self.mailbox_id = mailbox_id
        self._event: threading.Event | None = None

    def load(self) -> Subscription | None:
        try:
            row = GraphSubscription.objects.filter(mailbox_id=self.mailbox_id).first()
        finally:
            _let_go()
        if row is None or not row.subscription_id or row.expires_at is None:
            return None
        needs: Needs = "reauthorize" if row.needs == "reauthorize" else ""
        if row.needs == "recreate":
            needs = "recreate"
        return Subscription(row.subscription_id, row.client_state, row.expires_at, needs)

    def save(self, subscription: Subscription | None) -> None:
        fields: dict[str, Any] = {
            "subscription_id": subscription.id if subscription else "",
            "client_state": subscription.client_state if subscription else "",
            "expires_at": subscription.expires_at if subscription else None,
            "needs": subscription.needs if subscription else "",
        }
        try:
            GraphSubscription.objects.update_or_create(mailbox_id=self.mailbox_id, defaults=fields)
        finally:
            _let_go()

    def woken(self) -> bool:
        if self._event is None:
            self._event = _watcher.watch(self.mailbox_id)
        if not self._event.is_set():
            return False
        self._event.clear()
        return True

    def close(self) -> None:
        if self._event is not None:
            _watcher.forget(self.mailbox_id)
            self._event = None


def receive(entry: dict[str, Any]) -> str:
    """Take one notification (or lifecycle event) as the endpoint got it; what became of it."""
    subscription_id = str(entry.get("subscriptionId") or "")
    given = str(entry.get("clientState") or "")
    row = (
        GraphSubscription.objects.filter(subscription_id=subscription_id).first()
        if subscription_id
        else None
    )
    if row is None:
        return "unknown subscription"
    # A notification whose clientState is not the subscription's did not come from Graph.
    if not row.client_state or not hmac.compare_digest(given.encode(), row.client_state.encode()):
        log.warning("graph notification for mailbox %s with a wrong clientState", row.mailbox_id)
        return "wrong clientState"
    changes: dict[str, Any] = {"wake": True, "notified_at": timezone.now()}
    event = str(entry.get("lifecycleEvent") or "")
    if event in _LIFECYCLE_NEEDS:
        changes["needs"] = _LIFECYCLE_NEEDS[event]
    # `missed`, and every change notification, only wake the delta sync.
    GraphSubscription.objects.filter(pk=row.pk, subscription_id=subscription_id).update(**changes)
    return event or "woken"


class _Watcher:
    """Wakes the waits of this process's mailboxes whose flag the endpoint set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[int, threading.Event] = {}
        self._thread: threading.Thread | None = None

    def watch(self, mailbox_id: int) -> threading.Event:
        with self._lock:
            event = self._events.setdefault(mailbox_id, threading.Event())
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="graph-wakeups", daemon=True)
                self._thread.start()
            return event

    def forget(self, mailbox_id: int) -> None:
        with self._lock:
            self._events.pop(mailbox_id, None)

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    watched = dict(self._events)
                if not watched:
                    with self._lock:
                        if not self._events:
                            self._thread = None
                            return
                    continue
                try:
                    for mailbox_id in _take(list(watched)):
                        watched[mailbox_id].set()
                except DatabaseError:
                    log.warning("graph notifications: the database is away; trying again")
                    connections.close_all()
                threading.Event().wait(WATCH_S)
        finally:
            connections.close_all()


def _take(mailbox_ids: list[int]) -> list[int]:
    """The watched mailboxes whose flag is set, with the flags taken back."""
    with transaction.atomic():
        woken = list(
            GraphSubscription.objects.filter(mailbox_id__in=mailbox_ids, wake=True).values_list(
                "mailbox_id", flat=True
            )
        )
        if woken:
            GraphSubscription.objects.filter(mailbox_id__in=woken).update(wake=False)
    return woken


def _let_go() -> None:
    """The runner's thread holds no connection while its mailbox waits."""
    if not connection.in_atomic_block:
        connection.close()


_watcher = _Watcher()
