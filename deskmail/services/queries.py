"""Ticket lists: views, filters, search and pages, always within what the actor may see.

    page = ticket_page(actor, TicketFilter(view="mine", status=["open"]), limit=50)
    page.items, page.next_cursor

Pages are cut by a cursor (the last row's sort key), not by an offset, so that
page 1,000 costs what page 1 costs and a row arriving meanwhile never shifts
the next page.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid
from deskmail.services.reading import unread_q
from deskmail.services.search import Condition, conditions_q, fulltext_q
from deskmail.tickets.models import Message, Ticket

OPEN_STATUSES = (Ticket.Status.NEW, Ticket.Status.OPEN, Ticket.Status.PENDING)
CLOSED_STATUSES = (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
VIEWS = ("mine", "unassigned", "open", "pending", "snoozed", "closed", "all", "awaiting")
MAX_LIMIT = 500
LIST_DEFERS = ("mailbox__config", "mailbox__inbound_secret", "mailbox__outbound_secret")


@dataclass(frozen=True)
class TicketFilter:
    """What a list shows. Empty values do not filter."""

    view: str = "all"
    status: list[str] = field(default_factory=list)
    mailbox: list[str] = field(default_factory=list)  # mailbox names
    queue: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    assignee: list[int] = field(default_factory=list)  # user ids
    tags: list[str] = field(default_factory=list)  # every one of these
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    text: str = ""  # words in the subject or the sender
    read: str = ""  # "read" or "unread" (for the actor)
    search: str = ""  # full text: words in any message's subject, sender or body
    conditions: tuple[Condition, ...] = ()  # advanced search
    match: str = "all"  # the conditions: "all" must hold, or "any" one


@dataclass(frozen=True)
class Page:
    items: list[Ticket]
    next_cursor: str | None
    total: int | None = None


def snoozed_q(now: dt.datetime | None = None) -> Q:
    """Snoozed tickets: until a time still ahead, and the customer has not written since."""
    now = now or timezone.now()
    woken = Exists(
        Message.objects.filter(
            ticket=OuterRef("pk"),
            direction=Message.Direction.IN,
            received_at__gt=OuterRef("snoozed_at"),
        )
    )
    return Q(snoozed_until__gt=now) & ~Q(woken)


def _view(actor: Actor, view: str) -> Q:
    """The view's tickets; a ticket waiting for its sender's confirmation (or never
    confirmed) is in no view but `awaiting`."""
    if view == "awaiting":
        return ~Q(confirmation="")
    return Q(confirmation="") & _listed(actor, view)


def _listed(actor: Actor, view: str) -> Q:
    if view == "mine":
        return Q(assignee_id=actor.user_id, status__in=OPEN_STATUSES) & ~snoozed_q()
    if view == "unassigned":
        return Q(assignee__isnull=True, status__in=OPEN_STATUSES) & ~snoozed_q()
    if view == "open":
        return Q(status__in=OPEN_STATUSES) & ~snoozed_q()
    if view == "pending":
        return Q(status=Ticket.Status.PENDING)
    if view == "snoozed":
        return snoozed_q()
    if view == "closed":
        return Q(status__in=CLOSED_STATUSES)
    if view == "all":
        return Q()
    raise Invalid(f"no view {view!r}; the views are {', '.join(VIEWS)}", field="view")


def tickets(actor: Actor, where: TicketFilter) -> QuerySet[Ticket]:
    """The tickets the actor may see that match, not yet ordered or cut."""
    query = access.tickets(actor).filter(_view(actor, where.view))
    statuses = {value for value in where.status if value}
    if statuses:
        unknown = statuses - set(Ticket.Status.values)
        if unknown:
            raise Invalid(f"no status {sorted(unknown)[0]!r}", field="status")
        query = query.filter(status__in=sorted(statuses))
    if where.mailbox:
        query = query.filter(mailbox__name__in=where.mailbox)
    if where.queue:
        query = query.filter(queue__name__in=where.queue)
    if where.priority:
        query = query.filter(priority__in=where.priority)
    if where.assignee:
        query = query.filter(assignee_id__in=where.assignee)
    for tag in where.tags:
        query = query.filter(tags__name=tag)
    if where.created_from is not None:
        query = query.filter(created_at__gte=where.created_from)
    if where.created_to is not None:
        query = query.filter(created_at__lt=where.created_to)
    if where.text.strip():
        for word in where.text.split():
            query = query.filter(
                Q(title__icontains=word)
                | Q(contact__address__icontains=word)
                | Q(contact__name__icontains=word)
            )
    if where.read == "unread":
        query = query.filter(unread_q(actor))
    elif where.read == "read":
        query = query.exclude(unread_q(actor))
    elif where.read:
        raise Invalid("read must be 'read' or 'unread'", field="read")
    if where.search.strip():
        query = query.filter(fulltext_q(where.search))
    if where.conditions:
        query = query.filter(conditions_q(where.conditions, where.match))
    return query


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[dt.datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        updated, pk = json.loads(base64.urlsafe_b64decode(padded))
        return dt.datetime.fromisoformat(updated), int(pk)
    except (ValueError, TypeError) as exc:
        raise Invalid("the cursor is not one this list gave out", field="cursor") from exc


def ticket_page(
    actor: Actor,
    where: TicketFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    with_total: bool = False,
) -> Page:
    """One page of tickets, most recently updated first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    query = tickets(actor, where)
    total = query.count() if with_total else None
    query = (
        query.select_related("mailbox", "contact", "queue", "assignee")
        # A list needs its mailboxes' names, not their configuration (JSON parsed per row)
        # or their secrets (decrypted per row).
        .defer(*LIST_DEFERS)
        .order_by("-updated_at", "-pk")
    )
    if cursor:
        updated, pk = _decode(cursor)
        query = query.filter(Q(updated_at__lt=updated) | Q(updated_at=updated, pk__lt=pk))
    if actor.user_id is not None:
        # Shown in bold per person: cheap for one page (an EXISTS per row).
        query = query.annotate(
            unread=ExpressionWrapper(unread_q(actor), output_field=BooleanField())
        )
    rows = list(query[: limit + 1])
    items, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more and items:
        last = items[-1]
        next_cursor = _encode([last.updated_at.isoformat(), last.pk])
    return Page(items, next_cursor, total)


def counts(actor: Actor) -> dict[str, int]:
    """How many tickets each view holds, for the actor: one pass over their tickets."""
    found = access.tickets(actor).aggregate(
        **{view: Count("pk", filter=_view(actor, view)) for view in VIEWS if view != "all"},
        all=Count("pk", filter=Q(confirmation="")),
    )
    return {view: int(found[view] or 0) for view in VIEWS}


# Tickets read per round trip by `export_rows`, with one more query for their messages.
EXPORT_CHUNK = 2_000


def export_rows(actor: Actor, mailbox_name: str | None = None) -> Iterator[dict[str, Any]]:
    """Every visible ticket as `deskmail tickets --json` prints it, streamed, oldest first.

    The shape is a public contract: number, subject, status, mailbox (its name),
    contact (an address or null) and message_ids (without angle brackets, in
    arrival order).

    Plain rows, not model instances (which cost more than the query at 50,000
    tickets), read from a cursor EXPORT_CHUNK tickets at a time, with one query for
    the messages of each chunk: the memory it takes does not grow with the tickets.
    """
    query = access.tickets(actor)
    if mailbox_name is not None:
        query = query.filter(mailbox=access.mailbox(actor, mailbox_name))
    rows = query.order_by("number").values_list(
        "pk", "number", "title", "status", "mailbox__name", "contact__address"
    )
    for chunk in itertools.batched(rows.iterator(chunk_size=EXPORT_CHUNK), EXPORT_CHUNK):
        message_ids: dict[int, list[str]] = defaultdict(list)
        messages = (
            Message.objects.filter(ticket_id__in=[row[0] for row in chunk])
            .order_by("ticket_id", "received_at", "id")
            .values_list("ticket_id", "message_id")
        )
        for ticket_id, message_id in messages:
            message_ids[ticket_id].append(message_id)
        for pk, number, title, status, mailbox, contact in chunk:
            yield {
                "number": number,
                "subject": title,
                "status": status,
                "mailbox": mailbox,
                "contact": contact,
                "message_ids": message_ids.get(pk, []),
            }


def thread(actor: Actor, number: int) -> tuple[Ticket, list[Message]]:
    """A ticket and its messages in order (excluded mail included, marked so)."""
    ticket = access.ticket(actor, number)
    messages = list(
        ticket.messages.select_related("outbox_item")
        .prefetch_related("attachments")
        .order_by("received_at", "id")
    )
    return ticket, messages


def unread_counts(actor: Actor) -> dict[str, int]:
    """How many of the actor's own open tickets are unread for them.

    Their own tickets first (a short list, by the assignee index), then the unread
    test on those only: the test is a subquery per ticket.
    """
    if actor.user_id is None:
        return {}
    mine = list(
        access.tickets(actor).filter(_view(actor, "mine")).values_list("pk", flat=True)[:5000]
    )
    unread = Ticket.objects.filter(pk__in=mine).filter(unread_q(actor)).count() if mine else 0
    return {"mine": unread}


def kept_mail(actor: Actor, *, reason: str = "", limit: int = 200) -> list[Message]:
    """Incoming mail kept on no ticket, newest first (admins): what a filter, a loop guard or
    a mailbox that takes no new tickets kept; `reason` narrows to reasons containing it."""
    found = access.kept_messages(actor).filter(excluded=True).select_related("mailbox")
    if reason:
        found = found.filter(excluded_reason__icontains=reason)
    return list(found.order_by("-received_at", "-id")[:limit])
