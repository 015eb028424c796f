"""Handing tickets over: transfers that wait to be accepted, snooze, and the team's load.

A transfer to an agent waits the mailbox's `console.wait_for_agent_minutes` for
them to accept; then (when a queue was named) it waits in that queue for
`console.wait_for_queue_minutes`; then it comes back to the mailbox unassigned
and unread for everyone. Each step is written on the ticket.

A snoozed ticket leaves the open lists until its time, or until the customer
writes again (queries.snoozed_q answers that at read time, so nothing is late);
`housekeeping` then writes the wake-up on the ticket.

`housekeeping(now)` moves transfers and snoozes that are due; it is idempotent
(every step is a conditional UPDATE), so several processes may run it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.routing.models import Availability
from deskmail.services import access, people, reading
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.services.queries import OPEN_STATUSES
from deskmail.tickets.models import InternalNote, Message, Queue, ReadMark, Ticket, Transfer


def _activity(ticket: Ticket, text: str, author_id: int | None = None) -> None:
    InternalNote.objects.create(
        ticket=ticket, kind=InternalNote.Kind.ACTIVITY, body=text, author_id=author_id
    )


def _updated(by: str, ticket: Ticket, **changes: Any) -> None:
    emit(
        Event.Kind.TICKET_UPDATED,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        by=by,
        changes=changes,
    )


def _minutes(value: float) -> str:
    return f"{value:g} minute{'s' * (value != 1)}"


# -- transfers ---------------------------------------------------------------------------------


def open_transfer(ticket: Ticket) -> Transfer | None:
    return (
        ticket.transfers.filter(
            state__in=[Transfer.State.WAITING_AGENT, Transfer.State.WAITING_QUEUE]
        )
        .select_related("to_user", "to_queue")
        .order_by("-id")
        .first()
    )


def transfer(
    actor: Actor, ticket: Ticket, *, to_user_id: int | None = None, to_queue: str | None = None
) -> Transfer:
    """Hand the ticket to an agent (who must accept) and/or to a queue."""
    access.require_act_on(actor, ticket)
    if to_user_id is None and not (to_queue or "").strip():
        raise Invalid("name the agent or the queue to transfer to", field="to_user")
    user = None
    if to_user_id is not None:
        user = get_user_model().objects.filter(pk=to_user_id, is_active=True).first()
        if user is None or not access.actor_for(user).sees(ticket.mailbox_id):
            raise Invalid("that person is not on this mailbox's team", field="to_user")
    queue = (
        Queue.objects.get_or_create(name=to_queue.strip()[:200])[0]
        if to_queue and to_queue.strip()
        else None
    )
    console = ticket.mailbox.settings.console
    now = timezone.now()
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        Transfer.objects.filter(
            ticket=ticket, state__in=[Transfer.State.WAITING_AGENT, Transfer.State.WAITING_QUEUE]
        ).update(state=Transfer.State.CANCELLED, finished_at=now)
        if user is not None:
            state, due = (
                Transfer.State.WAITING_AGENT,
                now + dt.timedelta(minutes=console.wait_for_agent_minutes),
            )
            wait = _minutes(console.wait_for_agent_minutes)
            words = (
                f"{actor.name} transferred the ticket to {people.display_name(user)}; "
                f"waiting {wait} for them to accept"
            )
            if queue is not None:
                words += f", then to queue {queue.name}"
        else:
            state, due = (
                Transfer.State.WAITING_QUEUE,
                now + dt.timedelta(minutes=console.wait_for_queue_minutes),
            )
            wait = _minutes(console.wait_for_queue_minutes)
            words = (
                f"{actor.name} transferred the ticket to queue {queue.name if queue else ''}; "
                f"waiting {wait} for someone to take it"
            )
        created = Transfer.objects.create(
            ticket=ticket,
            to_user=user,
            to_queue=queue,
            state=state,
            by_id=actor.user_id,
            due_at=due,
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            assignee=user, queue=queue or ticket.queue, updated_at=now
        )
        _activity(ticket, words + ".", actor.user_id)
        _updated(
            actor.name,
            ticket,
            transfer=created.pk,
            assignee=[ticket.assignee_id, user.pk if user else None],
        )
    return created


def accept(actor: Actor, ticket: Ticket) -> Transfer:
    """The receiving agent (or, in a queue, anyone of the team) takes the ticket."""
    access.require_act_on(actor, ticket)
    waiting = open_transfer(ticket)
    if waiting is None:
        raise NotFound(f"no transfer of #{ticket.number} waits to be accepted")
    if waiting.state == Transfer.State.WAITING_AGENT and waiting.to_user_id not in (
        actor.user_id,
        None,
    ):
        if not actor.supervises_mailbox(ticket.mailbox_id):
            raise Invalid("this transfer waits for another agent", field="transfer")
    now = timezone.now()
    with transaction.atomic():
        taken = Transfer.objects.filter(pk=waiting.pk, state=waiting.state).update(
            state=Transfer.State.ACCEPTED, finished_at=now
        )
        if not taken:
            raise Invalid("the transfer moved on meanwhile; look again", field="transfer")
        Ticket.objects.filter(pk=ticket.pk).update(assignee_id=actor.user_id, updated_at=now)
        _activity(ticket, f"{actor.name} accepted the transfer.", actor.user_id)
        _updated(actor.name, ticket, assignee=[ticket.assignee_id, actor.user_id])
    waiting.refresh_from_db()
    return waiting


def _advance_transfers(now: dt.datetime) -> int:
    moved = 0
    due = Transfer.objects.filter(
        state__in=[Transfer.State.WAITING_AGENT, Transfer.State.WAITING_QUEUE], due_at__lte=now
    ).select_related("ticket", "ticket__mailbox", "to_user", "to_queue")
    for item in due:
        ticket, console = item.ticket, item.ticket.mailbox.settings.console
        with transaction.atomic():
            returned = not (
                item.state == Transfer.State.WAITING_AGENT and item.to_queue_id is not None
            )
            if not returned:
                step = Transfer.objects.filter(pk=item.pk, state=item.state).update(
                    state=Transfer.State.WAITING_QUEUE,
                    due_at=now + dt.timedelta(minutes=console.wait_for_queue_minutes),
                )
                who = people.display_name(item.to_user) if item.to_user else "Nobody"
                queue = item.to_queue.name if item.to_queue else ""
                wait = _minutes(console.wait_for_queue_minutes)
                words = (
                    f"{who} did not accept in time; the ticket waits in queue {queue} for {wait}."
                )
            else:
                step = Transfer.objects.filter(pk=item.pk, state=item.state).update(
                    state=Transfer.State.RETURNED, finished_at=now
                )
                words = (
                    "Nobody took the transfer in time: the ticket is back, unassigned and unread."
                )
            if not step:
                continue
            Ticket.objects.filter(pk=ticket.pk).update(assignee=None, updated_at=now)
            if returned:
                reading.unread_for_everyone(ticket)
            _activity(ticket, words)
            _updated("deskmail", ticket, transfer=item.pk, assignee=[ticket.assignee_id, None])
            moved += 1
    return moved


# -- snooze ------------------------------------------------------------------------------------


def snooze(actor: Actor, ticket: Ticket, until: dt.datetime) -> None:
    """Pending until then, out of the open lists; the customer writing wakes it sooner."""
    access.require_act_on(actor, ticket)
    now = timezone.now()
    if until <= now:
        raise Invalid("pick a time in the future", field="until")
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        locked.set_status(Ticket.Status.PENDING, now)
        locked.snoozed_until, locked.snoozed_at = until, now
        locked.save(
            update_fields=[
                "status",
                "status_changed_at",
                "snoozed_until",
                "snoozed_at",
                "updated_at",
            ]
        )
        _activity(
            locked,
            f"{actor.name} snoozed the ticket until {until:%Y-%m-%d %H:%M} UTC.",
            actor.user_id,
        )
        _updated(actor.name, locked, snoozed_until=until.isoformat())
    ticket.refresh_from_db()


def unsnooze(actor: Actor, ticket: Ticket) -> None:
    access.require_act_on(actor, ticket)
    with transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(
            snoozed_until=None, snoozed_at=None, updated_at=timezone.now()
        )
        _activity(ticket, f"{actor.name} woke the ticket up.", actor.user_id)
        _updated(actor.name, ticket, snoozed_until=None)
    ticket.refresh_from_db()


def _wake_snoozed(now: dt.datetime) -> int:
    woken = 0
    snoozed = Ticket.objects.filter(snoozed_until__isnull=False)
    wrote_since = Q(
        messages__direction=Message.Direction.IN, messages__received_at__gt=F("snoozed_at")
    )
    for ticket in snoozed.filter(Q(snoozed_until__lte=now) | wrote_since).distinct():
        wrote = ticket.messages.filter(
            direction=Message.Direction.IN, received_at__gt=ticket.snoozed_at
        ).exists()
        with transaction.atomic():
            done = Ticket.objects.filter(pk=ticket.pk, snoozed_until=ticket.snoozed_until).update(
                snoozed_until=None,
                snoozed_at=None,
                status=Ticket.Status.OPEN,
                status_changed_at=now,
                updated_at=now,
            )
            if not done:
                continue
            if ticket.assignee_id:
                ReadMark.objects.filter(ticket=ticket, user_id=ticket.assignee_id).delete()
            why = "the customer wrote again" if wrote else "its snooze time came"
            _activity(ticket, f"The ticket woke up: {why}.")
            _updated("deskmail", ticket, snoozed_until=None, status=[ticket.status, "open"])
            woken += 1
    return woken


def housekeeping(now: dt.datetime | None = None) -> tuple[int, int]:
    """Move due transfers and wake due snoozes; (transfers moved, tickets woken)."""
    now = now or timezone.now()
    return _advance_transfers(now), _wake_snoozed(now)


# -- the team's load ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    name: str
    email: str
    open: int
    pending: int
    unread: int
    waiting_transfers: int
    # Whether distribution gives them new tickets: "available", "paused (lunch)", "logged out".
    availability: str = "available"


def _availability(row: Availability | None) -> str:
    if row is None:
        return Availability.State.AVAILABLE.label
    label = str(Availability.State(row.state).label)
    return f"{label} ({row.reason})" if row.reason else label


def team_load(actor: Actor) -> list[Load]:
    """Per agent of the mailboxes the actor supervises: what they hold now."""
    if not actor.is_admin and not actor.supervises:
        raise NotFound("no team to show")
    boxes = None if actor.is_admin else sorted(actor.supervises)
    users = get_user_model().objects.filter(is_active=True)
    if boxes is not None:
        users = users.filter(mailbox_memberships__mailbox_id__in=boxes)
    tickets = Ticket.objects.all() if boxes is None else Ticket.objects.filter(mailbox_id__in=boxes)
    counts = {
        row["assignee"]: row
        for row in tickets.filter(assignee__isnull=False)
        .values("assignee")
        .annotate(
            open=Count("id", filter=Q(status__in=[s.value for s in OPEN_STATUSES])),
            pending=Count("id", filter=Q(status=Ticket.Status.PENDING)),
        )
    }
    waiting = dict(
        Transfer.objects.filter(state=Transfer.State.WAITING_AGENT, ticket__in=tickets)
        .values("to_user")
        .annotate(n=Count("id"))
        .values_list("to_user", "n")
    )
    states = {
        row.user_id: row
        for row in Availability.objects.filter(user__in=users.values("pk")).order_by()
    }
    rows = []
    for user in users.distinct().order_by("first_name", "email"):
        unread = (
            access.tickets(access.actor_for(user))
            .filter(assignee=user, status__in=[s.value for s in OPEN_STATUSES])
            .filter(reading.unread_q(access.actor_for(user)))
            .count()
        )
        row: dict[str, Any] = dict(counts.get(user.pk) or {})
        rows.append(
            Load(
                people.display_name(user),
                user.email,
                row.get("open", 0),
                row.get("pending", 0),
                unread,
                waiting.get(user.pk, 0),
                _availability(states.get(user.pk)),
            )
        )
    return sorted(rows, key=lambda r: (-r.open, r.name))
