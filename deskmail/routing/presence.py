"""Signing in and out of the console moves an agent between available and logged out.

Signing out sets "logged out" (a pause ends with it); signing in makes a
logged-out agent available, and leaves a paused one paused (a second browser,
say). A session that simply
expires does not sign anyone out: set the state by hand (`deskmail users
availability`) for people who leave without signing out.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from deskmail.routing.models import Availability


def signed_in(sender: Any, user: Any = None, **kwargs: Any) -> None:
    if user is None or user.pk is None:
        return
    Availability.objects.filter(user=user, state=Availability.State.LOGGED_OUT).update(
        state=Availability.State.AVAILABLE, reason="", changed_at=timezone.now()
    )


def signed_out(sender: Any, user: Any = None, **kwargs: Any) -> None:
    if user is None or user.pk is None:
        return
    Availability.objects.update_or_create(
        user=user,
        defaults={
            "state": Availability.State.LOGGED_OUT,
            "reason": "",
            "changed_at": timezone.now(),
        },
    )
