"""Whether an agent takes new tickets from distribution: available, paused, logged out.

A person sets their own; a supervisor sets it for the agents of the mailboxes
they supervise, an admin for anyone. Someone the actor may not see is "not
found". Nobody set yet counts as available.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from deskmail.mailboxes.models import Membership
from deskmail.routing.models import Availability
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.services.people import find_user

STATES = [state.value for state in Availability.State]


def availability_of(user: Any) -> tuple[str, str]:
    """(state, reason) of a person."""
    row = Availability.objects.filter(user=user).first()
    return (row.state, row.reason) if row is not None else (Availability.State.AVAILABLE, "")


def set_availability(actor: Actor, email: str, state: str, reason: str = "") -> Availability:
    """Set a person's availability (with the reason for a pause) and return it."""
    user = find_user(email)
    if user.pk != actor.user_id and not actor.is_admin:
        teams = set(Membership.objects.filter(user=user).values_list("mailbox_id", flat=True))
        if not teams & actor.supervises:
            raise NotFound(f"no person with the address {email.strip()!r}")
    if state not in STATES:
        raise Invalid(f"{state!r} is not one of {', '.join(STATES)}", field="state")
    reason = reason.strip()[:200] if state == Availability.State.PAUSED else ""
    row, _ = Availability.objects.update_or_create(
        user=user, defaults={"state": state, "reason": reason, "changed_at": timezone.now()}
    )
    return row
