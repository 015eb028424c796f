"""Mailboxes as admins see them: configuration without secrets, health, on and off.

Everyone may list the mailboxes they work in (to pick one for a new ticket);
the configuration, health and switching are for admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q

from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid


def configured(actor: Actor, name: str) -> tuple[Mailbox, dict[str, Any]]:
    """The mailbox and its configuration as JSON; secrets are never part of it."""
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    config = mailbox.settings.model_dump(mode="json", by_alias=True, exclude_none=True)
    config["status"] = mailbox.status
    return mailbox, config


@dataclass(frozen=True)
class Health:
    status: str
    failed_reason: str
    last_sync_at: Any
    last_error: str
    last_error_at: Any
    consecutive_failures: int
    outbox_pending: int
    outbox_failed: int
    has_inbound_secret: bool
    has_outbound_secret: bool


def health(actor: Actor, name: str) -> Health:
    """What the worker last wrote for the mailbox, and its mail waiting to go out."""
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    own = Q(mailbox=mailbox) | Q(mailbox__isnull=True, ticket__mailbox=mailbox)
    counts = OutboxItem.objects.filter(own).aggregate(
        pending=Count(
            "id", filter=Q(status__in=[OutboxItem.Status.PENDING, OutboxItem.Status.SENDING])
        ),
        failed=Count("id", filter=Q(status=OutboxItem.Status.FAILED)),
    )
    return Health(
        status=mailbox.status,
        failed_reason=mailbox.failed_reason,
        last_sync_at=mailbox.last_sync_at,
        last_error=mailbox.last_error,
        last_error_at=mailbox.last_error_at,
        consecutive_failures=mailbox.consecutive_failures,
        outbox_pending=int(counts["pending"] or 0),
        outbox_failed=int(counts["failed"] or 0),
        has_inbound_secret=bool(mailbox.inbound_secret),
        has_outbound_secret=bool(mailbox.outbound_secret),
    )


def set_enabled(actor: Actor, name: str, enabled: bool) -> Mailbox:
    """Switch a mailbox on (active, its failure count cleared) or off (disabled).

    Saving moves its configuration version, so the worker picks the change up.
    """
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    if enabled and mailbox.status == Mailbox.Status.DRAFT and not mailbox.settings.inbound:
        raise Invalid(f"mailbox {name} has no inbound settings yet", field="status")
    wanted = Mailbox.Status.ACTIVE if enabled else Mailbox.Status.DISABLED
    if mailbox.status != wanted:
        mailbox.status = wanted
        mailbox.save(update_fields=["status", "updated_at"])
    if enabled and (mailbox.consecutive_failures or mailbox.failed_reason):
        Mailbox.objects.filter(pk=mailbox.pk).update(consecutive_failures=0, failed_reason="")
        mailbox.refresh_from_db()
    return mailbox
