"""The channel switch: the email channel as a whole, off (no mail fetched or sent) or on.

Only admins see or change it through the console and the API (the command line acts
as the operator). Switching writes the one stored row, a `channel.switched` event and
a NOTIFY for the workers, in one transaction. While it is off:

- workers keep their mailboxes' leases but close the connections and fetch nothing;
  on again, each mailbox resumes from its stored cursor, so what arrived meanwhile
  is fetched exactly once;
- the outbox accepts and queues mail as ever and sends none; on again, it is sent;
- `deskmail receive` answers forwarded mail with a temporary failure (451), so the
  sending server keeps it and tries again later.

Switching to the state it is already in changes nothing and records nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from deskmail.core import channel
from deskmail.core.models import ChannelSwitch
from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.models import OutboxItem
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid
from deskmail.sync.models import Lease

MAX_REASON = 500
# What people who write mail are told while the channel is off.
QUEUED_WHILE_OFF = "The email channel is off: it goes out when the channel is on again."


@dataclass(frozen=True)
class ChannelState:
    on: bool
    changed_at: dt.datetime | None
    changed_by: str
    reason: str

    @property
    def off(self) -> bool:
        return not self.on


def _state(row: ChannelSwitch) -> ChannelState:
    return ChannelState(
        on=row.on, changed_at=row.changed_at, changed_by=row.changed_by_name, reason=row.reason
    )


def banner() -> ChannelState | None:
    """What every console page shows: the state while the channel is off, else None."""
    row = channel.current()
    return None if row.on else _state(row)


def state(actor: Actor) -> ChannelState:
    access.require_admin(actor)
    return _state(channel.current())


def switch(actor: Actor, on: bool, reason: str = "") -> ChannelState:
    """Switch the channel on or off; an event records who, when and why."""
    access.require_admin(actor)
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise Invalid(f"a reason has at most {MAX_REASON} characters", field="reason")
    with transaction.atomic():
        row, _ = ChannelSwitch.objects.select_for_update().get_or_create(pk=ChannelSwitch.ROW)
        if row.on == on:
            return _state(row)
        row.on = on
        row.changed_at = timezone.now()
        row.changed_by_id = actor.user_id
        row.changed_by_name = f"{actor.name} (command line)" if actor.is_system else actor.name
        row.reason = reason
        row.save()
        emit(
            Event.Kind.CHANNEL_SWITCHED,
            mailbox_id=None,
            on=on,
            by=row.changed_by_name,
            reason=reason,
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_notify(%s, %s)", [channel.NOTIFY_CHANNEL, "on" if on else "off"]
                )
    return _state(row)


@dataclass(frozen=True)
class Activity:
    """What the workers do about the switch, as far as the database shows it."""

    syncing: int  # mailboxes a worker holds and fetches
    paused: int  # mailboxes a worker holds without fetching (it has seen the switch off)
    waiting_to_send: int  # outbox rows queued (pending)


def activity() -> Activity:
    now = timezone.now()
    held = Lease.objects.filter(expires_at__gte=now).exclude(owner="")
    return Activity(
        syncing=held.filter(paused_at__isnull=True).count(),
        paused=held.filter(paused_at__isnull=False).count(),
        waiting_to_send=OutboxItem.objects.filter(status=OutboxItem.Status.PENDING).count(),
    )
