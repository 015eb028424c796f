"""Give a new ticket to one of the mailbox's available agents: round robin or least busy.

The candidates are the mailbox's active agents (team members with the agent
role) whose availability is "available" (no row counts as available) and who
hold fewer open tickets (new, open, pending) than `max_open`, when set.

- round robin: the next agent after the one who got the queue's last ticket, in
  user-id order, wrapping around; the position is kept per mailbox and queue,
  read and moved under a row lock, so concurrent workers never give two tickets
  to the same turn.
- least busy: the agent with the fewest open tickets; ties go to the lowest id.

Both are deterministic, so the trace can say exactly why.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Count, F

from deskmail.mailboxes.config import Distribute
from deskmail.mailboxes.models import Mailbox, Membership
from deskmail.routing.models import Availability, RoundRobin
from deskmail.tickets.models import Ticket

OPEN_STATUSES = (Ticket.Status.NEW, Ticket.Status.OPEN, Ticket.Status.PENDING)


@dataclass(frozen=True)
class Choice:
    user: User | None
    reason: str


def member_agents(mailbox: Mailbox) -> list[User]:
    """The mailbox's active agents, in id order (the order round robin follows)."""
    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            mailbox_memberships__mailbox=mailbox,
            mailbox_memberships__role=Membership.Role.AGENT,
        )
        .annotate(away_state=F("availability__state"), away_reason=F("availability__reason"))
        .order_by("pk")
    )


def open_counts(users: list[User]) -> dict[int, int]:
    rows = (
        Ticket.objects.filter(assignee__in=users, status__in=OPEN_STATUSES)
        .values("assignee")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["assignee"]: row["n"] for row in rows}


def _name(user: User) -> str:
    return str(getattr(user, "email", "") or user.get_username())


def _away(name: str, state: str, reason: str) -> str:
    return f"{name} {state.replace('_', ' ')}" + (f" ({reason})" if reason else "")


def choose(mailbox: Mailbox, queue: str, spec: Distribute) -> Choice:
    """The agent who gets the ticket, and why (or why nobody does)."""
    agents = member_agents(mailbox)
    where = f"queue {queue}" if queue else f"mailbox {mailbox.name}"
    if not agents:
        return Choice(None, f"not distributed: mailbox {mailbox.name} has no agents")
    # Read with the agents (one query): no row is available.
    states = {
        a.pk: (state, getattr(a, "away_reason", "") or "")
        for a in agents
        if (state := getattr(a, "away_state", None)) is not None
    }
    available = (Availability.State.AVAILABLE, "")
    away = [a for a in agents if states.get(a.pk, available)[0] != Availability.State.AVAILABLE]
    present = [a for a in agents if a not in away]
    counts = open_counts(present)
    full = []
    if spec.max_open is not None:
        full = [a for a in present if counts.get(a.pk, 0) >= spec.max_open]
        present = [a for a in present if a not in full]
    if not present:
        why = [_away(_name(a), *states[a.pk]) for a in away]
        why += [f"{_name(a)} has {counts.get(a.pk, 0)} open tickets" for a in full]
        return Choice(None, f"not distributed: no agent available in {where} ({'; '.join(why)})")
    if spec.method == "least_busy":
        chosen = min(present, key=lambda a: (counts.get(a.pk, 0), a.pk))
        loads = ", ".join(f"{_name(a)} {counts.get(a.pk, 0)}" for a in present)
        reason = f"least busy in {where}: {_name(chosen)} (open tickets: {loads})"
    else:
        cursor, _ = RoundRobin.objects.select_for_update().get_or_create(
            mailbox=mailbox, queue=queue
        )
        after = [a for a in present if a.pk > cursor.last_user_pk]
        chosen = after[0] if after else present[0]
        cursor.last_user_pk = chosen.pk
        cursor.save(update_fields=["last_user_pk"])
        reason = (
            f"round robin in {where}: {_name(chosen)}"
            f" ({len(present)} of {len(agents)} agents available)"
        )
    return Choice(chosen, reason)
