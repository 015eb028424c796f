"""The outbox as people see it: their mailboxes' mail waiting, sent or failed, by page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deskmail.outbound.models import OutboxItem
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid

MAX_LIMIT = 500
# What "the outbox" means when no status is asked for: mail not yet out, and mail that failed.
WAITING = (OutboxItem.Status.PENDING, OutboxItem.Status.SENDING, OutboxItem.Status.FAILED)


@dataclass(frozen=True)
class OutboxPage:
    items: list[OutboxItem]
    next_cursor: str | None


def outbox_page(
    actor: Actor,
    statuses: Iterable[str] = (),
    *,
    ticket: int | None = None,
    limit: int = 50,
    after: str | None = None,
) -> OutboxPage:
    """Outbox rows, newest first; the cursor is the last row's id."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    wanted = set(statuses) or set(WAITING)
    unknown = wanted - set(OutboxItem.Status.values)
    if unknown:
        raise Invalid(f"no outbox status {sorted(unknown)[0]!r}", field="status")
    query = access.outbox_items(actor).filter(status__in=sorted(wanted))
    if ticket is not None:
        query = query.filter(ticket=access.ticket(actor, ticket))
    if after:
        if not after.isdigit() or len(after) > 18:
            raise Invalid("the cursor is not one this list gave out", field="cursor")
        query = query.filter(id__lt=int(after))
    rows = list(
        query.select_related("ticket__mailbox", "outgoing", "mailbox").order_by("-id")[: limit + 1]
    )
    items = rows[:limit]
    return OutboxPage(items, str(items[-1].pk) if len(rows) > limit else None)
