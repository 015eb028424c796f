"""Graph change notifications for one mailbox folder: a subscription kept alive, and waiting.

When deskmail has a public HTTPS URL (`notifications_url`), the Graph connector
subscribes to the folder's new messages (`POST /subscriptions`,
learn.microsoft.com/graph/api/subscription-post-subscriptions) with a random
`clientState` and a `lifecycleNotificationUrl`, both pointing at deskmail's endpoint
(`/graph/notifications/`, the `deskmail.msgraph` app). Graph first checks the URL
with the validation handshake, answered by that endpoint. A notification only wakes
the mailbox's sync: the delta round that follows is the truth, so a notification that
comes twice, late or never loses or doubles nothing (a safety sync also runs at the
end of every wait).

The subscription is renewed a day before it expires (Outlook messages allow 4,230
minutes, /graph/change-notifications-overview "Subscription lifetime"), reauthorized
after `reauthorizationRequired`, and made again after `subscriptionRemoved` or when
it is gone (/graph/change-notifications-lifecycle-events); `missed` only wakes the
sync. Where the subscription cannot be made (the URL is not reachable from Graph,
or a delegated token may not subscribe to a shared mailbox, which needs the
application permission), the mailbox falls back to delta polling and tries again
later.

What the endpoint received is kept by a `SubscriptionStore` (the database, in the
worker): the subscription's id, clientState and expiry, what a lifecycle event asked
for, and whether a notification came since the last look.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import quote

from deskmail.connectors.graph_api import GraphApi, GraphRefused

log = logging.getLogger(__name__)

# Requested lifetime: under Outlook messages' 4,230 minutes, which newer limits also allow.
LIFETIME = dt.timedelta(minutes=4200)
RENEW_WHEN_LEFT = dt.timedelta(days=1)
ENDPOINT_PATH = "/graph/notifications/"

Needs = Literal["", "reauthorize", "recreate"]


@dataclass(frozen=True)
class Subscription:
    """A subscription as Graph made it; `needs` is what a lifecycle event asked for."""

    id: str
    client_state: str
    expires_at: dt.datetime
    needs: Needs = ""


class SubscriptionStore(Protocol):
    """Where a mailbox's subscription is kept and its notifications arrive."""

    def load(self) -> Subscription | None: ...

    def save(self, subscription: Subscription | None) -> None:
        """Keep the subscription (None: there is none), leaving a pending wake-up as it is."""
        ...

    def woken(self) -> bool:
        """Whether a notification came since the last call (at most one True for many)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Notifiable(Protocol):
    """A session that can be woken by change notifications instead of polling."""

    def notify_through(self, store: SubscriptionStore) -> None: ...


def endpoint(notifications_url: str) -> str:
    """deskmail's notification endpoint under its public base URL."""
    return notifications_url.rstrip("/") + ENDPOINT_PATH


class ChangeNotifications:
    """Keeps one subscription on a folder alive; the Graph connector asks it before waiting."""

    def __init__(
        self,
        api: Callable[[], GraphApi],
        user: str,
        folder_id: Callable[[], str],
        notifications_url: str,
        store: SubscriptionStore,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._api = api
        self.user = user
        self._folder_id = folder_id
        self.url = endpoint(notifications_url)
        self.store = store
        self._now = now

    def ensure(self) -> bool:
        """Make, reauthorize or renew the subscription as needed; True when it was just made
        (mail that came before it has no notification: sync once more)."""
        held = self.store.load()
        now = self._now()
        if held is None or held.needs == "recreate" or held.expires_at <= now:
            self._create(held)
            return True
        try:
            if held.needs == "reauthorize":
                self._call("POST", f"/subscriptions/{quote(held.id)}/reauthorize", None)
                held = self._renew(held, now)
            elif held.expires_at - now < RENEW_WHEN_LEFT:
                held = self._renew(held, now)
        except GraphRefused as exc:
            if exc.failure.status != 404:
                raise
            log.info("graph %s: the subscription is gone; making it again", self.user)
            self._create(None)
            return True
        return False

    def _renew(self, held: Subscription, now: dt.datetime) -> Subscription:
        expires = now + LIFETIME
        answer = self._call(
            "PATCH", f"/subscriptions/{quote(held.id)}", {"expirationDateTime": _iso(expires)}
        )
        renewed = replace(held, expires_at=_parse(answer.get("expirationDateTime")) or expires)
        renewed = replace(renewed, needs="")
        self.store.save(renewed)
        log.info("graph %s: subscription renewed until %s", self.user, renewed.expires_at)
        return renewed

    def _create(self, old: Subscription | None) -> None:
        if old is not None:
            try:
                self._call("DELETE", f"/subscriptions/{quote(old.id)}", None)
            except GraphRefused as exc:
                if exc.failure.status != 404:
                    log.info("graph %s: the old subscription stays: %s", self.user, exc.message)
            self.store.save(None)
        client_state = secrets.token_urlsafe(32)
        expires = self._now() + LIFETIME
        answer = self._call(
            "POST",
            "/subscriptions",
            {
                "changeType": "created",
                "notificationUrl": self.url,
                "lifecycleNotificationUrl": self.url,
                "resource": f"users/{self.user}/mailFolders('{self._folder_id()}')/messages",
                "expirationDateTime": _iso(expires),
                "clientState": client_state,
            },
        )
        made = Subscription(
            id=str(answer["id"]),
            client_state=client_state,
            expires_at=_parse(answer.get("expirationDateTime")) or expires,
        )
        self.store.save(made)
        log.info("graph %s: subscribed to new mail until %s", self.user, made.expires_at)

    def _call(self, method: str, path: str, body: object) -> dict[str, object]:
        doing = f"Managing the change notifications of {self.user}"
        answer = self._api().call(method, path, doing, json=body)
        if not answer.content:
            return {}
        found = answer.json()
        return found if isinstance(found, dict) else {}


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Graph sends seven fraction digits; Python reads at most six
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
