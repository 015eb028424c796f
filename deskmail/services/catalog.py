"""What tickets are sorted and described by: queues, ticket types, tags, contacts.

Queues, types and tags are shared by every mailbox, so every signed-in person
sees their names. Contacts are people who wrote to (or were written to by) a
mailbox: a person sees the contacts of the tickets they may see, an admin all.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import Contact, Queue, Tag, TicketType

MAX_LIMIT = 500


def queues(actor: Actor) -> QuerySet[Queue]:
    return Queue.objects.order_by("name")


def ticket_types(actor: Actor) -> QuerySet[TicketType]:
    return TicketType.objects.order_by("name")


def tags(actor: Actor) -> QuerySet[Tag]:
    """Tags in use on tickets the actor sees (every tag, for an admin)."""
    if actor.is_admin:
        return Tag.objects.order_by("name")
    seen = access.tickets(actor).filter(tags=OuterRef("pk"))
    return Tag.objects.filter(Exists(seen)).order_by("name")


def contacts(actor: Actor, text: str = "") -> QuerySet[Contact]:
    """The contacts the actor may see, matching every word of `text` in address or name."""
    query = Contact.objects.all()
    if not actor.is_admin:
        query = query.filter(Exists(access.tickets(actor).filter(contact=OuterRef("pk"))))
    for word in text.split():
        query = query.filter(Q(address__icontains=word) | Q(name__icontains=word))
    return query.order_by("id")


@dataclass(frozen=True)
class ContactPage:
    items: list[Contact]
    next_cursor: str | None


def contact_page(
    actor: Actor, text: str = "", *, limit: int = 50, after: str | None = None
) -> ContactPage:
    """One page of contacts in the order they were first seen; the cursor is the last id."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    query = contacts(actor, text)
    if after:
        if not after.isdigit() or len(after) > 18:
            raise Invalid("the cursor is not one this list gave out", field="cursor")
        query = query.filter(id__gt=int(after))
    rows = list(query[: limit + 1])
    items = rows[:limit]
    return ContactPage(items, str(items[-1].pk) if len(rows) > limit else None)


def contact(actor: Actor, pk: int) -> Contact:
    found = contacts(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no contact {pk}")
    return found
