"""A ticket's own fields, edited one at a time: priority, queue, type, custom fields,
participants and its mailbox (status, tags and the assignee are in `actions`).

Custom fields come from the ticket's type (`TicketType.fields`, a list of
{"name", "label", "kind", "restricted"}) and from the mailbox's field mappings
(`tickets.field_mappings`, where `restricted: true` too). A restricted field
is seen and changed by supervisors and admins only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.services import access, actions
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid
from deskmail.tickets.models import Queue, Ticket, TicketType


@dataclass(frozen=True)
class CustomField:
    name: str
    label: str
    kind: str  # text | number | date | bool
    restricted: bool


def may_see_restricted(actor: Actor, ticket: Ticket) -> bool:
    return actor.supervises_mailbox(ticket.mailbox_id)


def custom_fields(actor: Actor, ticket: Ticket) -> list[CustomField]:
    """The custom fields of the ticket the actor may see, type's first, then the mailbox's."""
    found: dict[str, CustomField] = {}
    definitions: list[dict[str, Any]] = list(ticket.type.fields) if ticket.type else []
    definitions.extend(
        {"name": mapping.field, "restricted": mapping.restricted}
        for mapping in ticket.mailbox.settings.tickets.field_mappings
        if mapping.field not in ("priority", "queue", "type", "status", "title")
    )
    for item in definitions:
        name = str(item.get("name") or "").strip()
        if not name or name in found:
            continue
        found[name] = CustomField(
            name=name,
            label=str(item.get("label") or name.replace("_", " ").capitalize()),
            kind=str(item.get("kind") or "text"),
            restricted=bool(item.get("restricted")),
        )
    visible = may_see_restricted(actor, ticket)
    return [f for f in found.values() if visible or not f.restricted]


def set_priority(actor: Actor, ticket: Ticket, priority: str) -> None:
    access.require_act_on(actor, ticket)
    if priority not in Ticket.Priority.values:
        raise Invalid(f"no priority {priority!r}", field="priority")
    with transaction.atomic():
        was = ticket.priority
        Ticket.objects.filter(pk=ticket.pk).update(priority=priority, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, priority=[was, priority])
    ticket.refresh_from_db()


def set_queue(actor: Actor, ticket: Ticket, name: str | None) -> None:
    access.require_act_on(actor, ticket)
    queue = (
        Queue.objects.get_or_create(name=name.strip()[:200])[0] if name and name.strip() else None
    )
    with transaction.atomic():
        was = ticket.queue.name if ticket.queue else None
        Ticket.objects.filter(pk=ticket.pk).update(queue=queue, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, queue=[was, queue.name if queue else None])
    ticket.refresh_from_db()


def set_type(actor: Actor, ticket: Ticket, type_id: int | None) -> None:
    access.require_act_on(actor, ticket)
    kind = TicketType.objects.filter(pk=type_id).first() if type_id else None
    if type_id and kind is None:
        raise Invalid("no such ticket type", field="type")
    with transaction.atomic():
        was = ticket.type.name if ticket.type else None
        Ticket.objects.filter(pk=ticket.pk).update(type=kind, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, type=[was, kind.name if kind else None])
    ticket.refresh_from_db()


def set_custom(actor: Actor, ticket: Ticket, name: str, value: str) -> None:
    """Set one custom field; a restricted one only by a supervisor or an admin."""
    access.require_act_on(actor, ticket)
    known = {f.name: f for f in custom_fields(access.SYSTEM, ticket)}
    field = known.get(name)
    if field is None:
        raise Invalid(f"ticket #{ticket.number} has no field {name!r}", field=name)
    if field.restricted and not may_see_restricted(actor, ticket):
        # Not even its existence is confirmed to someone who may not see it.
        raise Invalid(f"ticket #{ticket.number} has no field {name!r}", field=name)
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        values = dict(locked.custom_fields or {})
        was = values.get(name)
        if value.strip():
            values[name] = value.strip()[:2000]
        else:
            values.pop(name, None)
        Ticket.objects.filter(pk=ticket.pk).update(custom_fields=values, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, **{name: [was, values.get(name)]})
    ticket.refresh_from_db()


def set_participants(actor: Actor, ticket: Ticket, addresses: Iterable[str]) -> list[str]:
    """Who takes part (shown, and allowed to join by the subject tag); our own never."""
    from deskmail.outbound.recipients import own_addresses

    access.require_act_on(actor, ticket)
    ours = own_addresses()
    clean: list[str] = []
    for raw in addresses:
        address = raw.strip().lower()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            raise Invalid(f"{address!r} is not an email address", field="participants") from None
        if address not in ours and address not in clean:
            clean.append(address)
    with transaction.atomic():
        was = list(ticket.participants)
        Ticket.objects.filter(pk=ticket.pk).update(participants=clean, updated_at=timezone.now())
        actions.ticket_updated(actor, ticket, participants=[was, clean])
    ticket.refresh_from_db()
    return clean


def set_title(actor: Actor, ticket: Ticket, title: str) -> None:
    access.require_act_on(actor, ticket)
    if not title.strip():
        raise Invalid("the subject is empty", field="title")
    with transaction.atomic():
        was = ticket.title
        ticket.title = title.strip()[:1000]
        ticket.save(update_fields=["title", "updated_at"])
        actions.ticket_updated(actor, ticket, title=[was, ticket.title])


def move_to_mailbox(actor: Actor, ticket: Ticket, name: str) -> None:
    """Move the ticket to another mailbox the actor works in (its team takes over)."""
    access.require_act_on(actor, ticket)
    target = access.mailbox(actor, name)
    if target.pk == ticket.mailbox_id:
        return
    with transaction.atomic():
        was = ticket.mailbox.name
        Ticket.objects.filter(pk=ticket.pk).update(mailbox=target, updated_at=timezone.now())
        # Told to both teams: the old one sees it leave, the new one sees it arrive.
        actions.ticket_updated(actor, ticket, mailbox=[was, target.name])
        emit(
            Event.Kind.TICKET_UPDATED,
            mailbox_id=target.pk,
            ticket=ticket,
            by=actor.name,
            changes={"mailbox": [was, target.name]},
        )
    ticket.refresh_from_db()


def set_status(actor: Actor, ticket: Ticket, status: str, disposition: str = "") -> bool:
    """Move the ticket to a status; closing asks for a disposition when the mailbox wants one."""
    access.require_act_on(actor, ticket)
    console = ticket.mailbox.settings.console
    closing = status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
    disposition = disposition.strip()
    if disposition and disposition not in console.dispositions:
        raise Invalid(
            f"{disposition!r} is not one of this mailbox's dispositions", field="disposition"
        )
    if closing and console.require_disposition and not disposition and console.dispositions:
        raise Invalid(
            "pick a disposition: mailbox "
            f"{ticket.mailbox.name} asks for one when a ticket is closed",
            field="disposition",
        )
    with transaction.atomic(), actions.one_update():
        changed = actions.set_status(actor, ticket, status)
        if closing and disposition != ticket.disposition:
            Ticket.objects.filter(pk=ticket.pk).update(disposition=disposition)
            actions.ticket_updated(actor, ticket, disposition=[ticket.disposition, disposition])
            changed = True
    ticket.refresh_from_db()
    return changed
