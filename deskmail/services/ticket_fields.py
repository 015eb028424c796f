"""Changing a ticket's fields: priority, queue, type, custom fields, and all of a change at once.

Status, assignee and tags have their actions in `actions`; `update` applies any
mix of them in one transaction, so a change either happens whole or not at all.
Each changed field is logged as a `ticket.updated` event naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from deskmail.services import access, actions, people
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import Queue, Ticket, TicketType

MAX_TEXT = 1000
# Kinds a ticket type may give its fields ([{"name", "label", "kind"}]); others hold text.
KINDS = {"text", "number", "boolean", "date"}


# A field a change leaves alone (None would mean "clear it").
UNSET: Any = object()


def set_priority(actor: Actor, ticket: Ticket, priority: str) -> bool:
    access.require_act_on(actor, ticket)
    if priority not in Ticket.Priority.values:
        raise Invalid(
            f"no priority {priority!r}; the priorities are {', '.join(Ticket.Priority.values)}",
            field="priority",
        )
    if ticket.priority == priority:
        return False
    with transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(priority=priority, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, priority=[ticket.priority, priority])
    ticket.refresh_from_db()
    return True


def set_queue(actor: Actor, ticket: Ticket, name: str | None) -> bool:
    """Put the ticket in the named queue (which must exist), or in none."""
    access.require_act_on(actor, ticket)
    queue = None
    if name is not None:
        queue = Queue.objects.filter(name=name).first()
        if queue is None:
            raise Invalid(f"no queue {name!r}", field="queue")
    was = ticket.queue.name if ticket.queue_id and ticket.queue else None
    if ticket.queue_id == (queue.pk if queue else None):
        return False
    with transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(queue=queue, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, queue=[was, name])
    ticket.refresh_from_db()
    return True


def set_type(actor: Actor, ticket: Ticket, name: str | None) -> bool:
    """Give the ticket the named type (which must exist), or none."""
    access.require_act_on(actor, ticket)
    kind = None
    if name is not None:
        kind = TicketType.objects.filter(name=name).first()
        if kind is None:
            raise Invalid(f"no ticket type {name!r}", field="type")
    was = ticket.type.name if ticket.type_id and ticket.type else None
    if ticket.type_id == (kind.pk if kind else None):
        return False
    with transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(type=kind, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, type=[was, name])
    ticket.refresh_from_db()
    return True


def _checked_value(name: str, kind: str, value: Any) -> Any:
    where = f"custom_fields.{name}"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"{name} holds a number", field=where)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise Invalid(f"{name} holds true or false", field=where)
        return value
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise Invalid(f"{name} holds a date (YYYY-MM-DD)", field=where) from None
    if isinstance(value, bool | int | float):
        value = str(value)
    if not isinstance(value, str):
        raise Invalid(f"{name} holds text", field=where)
    if len(value) > MAX_TEXT:
        raise Invalid(f"{name} holds at most {MAX_TEXT} characters", field=where)
    return value


def set_custom_fields(actor: Actor, ticket: Ticket, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set custom fields (a null value removes one); the ticket's fields afterwards.

    When the ticket's type lists its fields, only those may be set, each of its kind.
    """
    access.require_act_on(actor, ticket)
    declared: dict[str, str] | None = None
    if ticket.type_id is not None and ticket.type is not None and ticket.type.fields:
        declared = {
            str(item.get("name")): str(item.get("kind") or "text")
            for item in ticket.type.fields
            if isinstance(item, dict) and item.get("name")
        }
    fields = dict(ticket.custom_fields or {})
    for name, value in values.items():
        if not name or len(name) > 100:
            raise Invalid("a custom field's name has 1 to 100 characters", field="custom_fields")
        if declared is not None and name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise Invalid(
                f"tickets of type {ticket.type} have no field {name!r} (they have: {known})",
                field=f"custom_fields.{name}",
            )
        if value is None:
            fields.pop(name, None)
            continue
        kind = declared.get(name, "text") if declared is not None else "text"
        fields[name] = _checked_value(name, kind if kind in KINDS else "text", value)
    if fields != (ticket.custom_fields or {}):
        with transaction.atomic():
            was = ticket.custom_fields
            Ticket.objects.filter(pk=ticket.pk).update(
                custom_fields=fields, updated_at=timezone.now()
            )
            actions.ticket_updated(actor, ticket, custom_fields=[was, fields])
        ticket.refresh_from_db()
    return fields


def _assignee_id(value: int | str | None) -> int | None:
    """An assignee given by user id or by address."""
    if value is None or isinstance(value, int):
        return value
    try:
        return int(people.find_user(value).pk)
    except NotFound:
        raise Invalid(f"no person with the address {value!r}", field="assignee") from None


@dataclass(frozen=True)
class Change:
    """What a client asked to change. None leaves status, priority, tags and custom fields
    alone; queue, type and assignee are left alone when UNSET, and cleared by None."""

    status: str | None = None
    priority: str | None = None
    queue: Any = UNSET
    type: Any = UNSET
    assignee: Any = UNSET
    tags: list[str] | None = None
    custom_fields: Mapping[str, Any] | None = None


def update(actor: Actor, ticket: Ticket, change: Change) -> Ticket:
    """Apply a change to the ticket, whole or not at all; the ticket afterwards."""
    access.require_act_on(actor, ticket)
    with transaction.atomic(), actions.one_update():
        if change.status is not None:
            actions.set_status(actor, ticket, change.status)
        if change.priority is not None:
            set_priority(actor, ticket, change.priority)
        if change.queue is not UNSET:
            set_queue(actor, ticket, change.queue)
        if change.type is not UNSET:
            set_type(actor, ticket, change.type)
        if change.assignee is not UNSET:
            wanted = _assignee_id(change.assignee)
            if wanted != ticket.assignee_id:
                actions.assign(actor, ticket, wanted)
        if change.tags is not None:
            current = set(ticket.tags.values_list("name", flat=True))
            wanted_tags = {name.strip() for name in change.tags if name.strip()}
            if wanted_tags != current:
                actions.set_tags(
                    actor,
                    ticket,
                    add=sorted(wanted_tags - current),
                    remove=sorted(current - wanted_tags),
                )
        if change.custom_fields is not None:
            set_custom_fields(actor, ticket, change.custom_fields)
    return access.ticket(actor, ticket.number)
