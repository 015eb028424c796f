"""Mailbox leases shared by every worker through the database.

Claiming is a conditional UPDATE (free, expired, or already ours), so two
workers can never both hold a mailbox; on PostgreSQL the candidate rows are
picked with `SELECT ... FOR UPDATE SKIP LOCKED`, so workers do not queue up
behind each other. A worker renews its leases well before they expire; one
that dies simply stops renewing.
"""

from __future__ import annotations

import datetime as dt
import os

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deskmail.mailboxes.models import Mailbox
from deskmail.sync.models import Lease

# Renewed every tick. Shorter only where workers are killed on purpose (fault tests).
LEASE_SECONDS = float(os.environ.get("DESKMAIL_LEASE_SECONDS") or 30)


def claim(mailbox_ids: list[int], owner: str, *, limit: int) -> list[int]:
    """Claim up to `limit` of these mailboxes for `owner`; returns the ids now held.

    A few statements however many mailboxes there are: a worker with thousands of
    them must finish its tick (and renew its leases) well within a lease.
    """
    now = timezone.now()
    known = set(
        Lease.objects.filter(mailbox_id__in=mailbox_ids).values_list("mailbox_id", flat=True)
    )
    Lease.objects.bulk_create(
        [Lease(mailbox_id=m) for m in mailbox_ids if m not in known], ignore_conflicts=True
    )
    claimable = Q(owner="") | Q(expires_at__lt=now) | Q(owner=owner)
    with transaction.atomic():
        candidates = list(
            Lease.objects.select_for_update(skip_locked=True)
            .filter(claimable, mailbox_id__in=mailbox_ids)
            .order_by("mailbox_id")
            .values_list("mailbox_id", flat=True)[:limit]
        )
        if not candidates:
            return []
        expires = now + dt.timedelta(seconds=LEASE_SECONDS)
        Lease.objects.filter(claimable, mailbox_id__in=candidates).update(
            owner=owner, expires_at=expires, acquired_at=now, paused_at=None
        )
        return sorted(
            Lease.objects.filter(
                mailbox_id__in=candidates, owner=owner, acquired_at=now
            ).values_list("mailbox_id", flat=True)
        )


def renew(mailbox_ids: list[int], owner: str) -> set[int]:
    """Extend our leases; returns the ids we still hold (a lost lease means: stop syncing)."""
    # Still ours even if it expired meanwhile, as long as nobody else claimed it.
    now = timezone.now()
    Lease.objects.filter(owner=owner, mailbox_id__in=mailbox_ids).update(
        expires_at=now + dt.timedelta(seconds=LEASE_SECONDS)
    )
    return set(
        Lease.objects.filter(owner=owner, mailbox_id__in=mailbox_ids).values_list(
            "mailbox_id", flat=True
        )
    )


def release(mailbox_ids: list[int], owner: str) -> None:
    Lease.objects.filter(owner=owner, mailbox_id__in=mailbox_ids).update(
        owner="", expires_at=None, paused_at=None
    )


def pause(mailbox_ids: list[int], owner: str) -> None:
    """Say that `owner` holds these mailboxes without fetching (the channel is off)."""
    Lease.objects.filter(owner=owner, mailbox_id__in=mailbox_ids, paused_at__isnull=True).update(
        paused_at=timezone.now()
    )


def resume(mailbox_ids: list[int], owner: str) -> None:
    Lease.objects.filter(owner=owner, mailbox_id__in=mailbox_ids).update(paused_at=None)


def holder(mailbox: Mailbox) -> str | None:
    lease = Lease.objects.filter(mailbox=mailbox, expires_at__gte=timezone.now()).first()
    return lease.owner if lease and lease.owner else None
