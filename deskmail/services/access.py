"""Who may see and do what: the one permission policy of deskmail.

Three roles. An **agent** works the tickets of the mailboxes they were added
to; a **supervisor** sees every ticket of the mailboxes they supervise (and
may act on them); an **admin** sees and configures everything. A person who
may not see a ticket gets `NotFound`, exactly as if it did not exist, so that
nothing leaks through lists, counts, searches or URLs typed by hand.

Every entry point asks here: `actor_for(user)` once per request or command,
then `tickets(actor)`, `ticket(actor, number)`, `message(actor, pk)` ... never
the models directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from deskmail.mailboxes.models import Mailbox, Membership
from deskmail.outbound.models import OutboxItem
from deskmail.services.errors import Forbidden, NotFound
from deskmail.tickets.models import Attachment, Message, Ticket


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


# The Django groups that carry a person's role (an admin may also be a superuser).
ROLE_GROUPS = {Role.AGENT: "agents", Role.SUPERVISOR: "supervisors", Role.ADMIN: "admins"}


@dataclass(frozen=True)
class Actor:
    """A person (or the system, for the command line) and what they may see."""

    user_id: int | None
    name: str
    role: Role
    # Mailboxes whose tickets they work, and those they supervise (empty for admins:
    # they see everything).
    agent_of: frozenset[int] = frozenset()
    supervises: frozenset[int] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    @property
    def mailbox_ids(self) -> frozenset[int]:
        return self.agent_of | self.supervises

    def sees(self, mailbox_id: int) -> bool:
        return self.is_admin or mailbox_id in self.mailbox_ids

    def supervises_mailbox(self, mailbox_id: int) -> bool:
        return self.is_admin or mailbox_id in self.supervises

    def mailbox_q(self, field: str = "mailbox") -> Q:
        """A filter for rows whose `field` is a mailbox this actor sees."""
        if self.is_admin:
            return Q()
        return Q(**{f"{field}__in": sorted(self.mailbox_ids)})


# The command line acts for the operator, who may do everything.
SYSTEM = Actor(user_id=None, name="deskmail", role=Role.ADMIN)


def role_of(user: Any) -> Role:
    """A person's role: admin (superuser or in the admins group), supervisor, or agent."""
    if user.is_superuser:
        return Role.ADMIN
    groups = set(user.groups.values_list("name", flat=True))
    for role in (Role.ADMIN, Role.SUPERVISOR):
        if ROLE_GROUPS[role] in groups:
            return role
    return Role.AGENT


def actor_for(user: AbstractBaseUser | AnonymousUser | None) -> Actor:
    """What this signed-in person may see; NotFound for anyone else (never a hint why)."""
    if user is None or not user.is_authenticated or not user.is_active:
        raise NotFound("not signed in")
    role = role_of(user)
    rows = Membership.objects.filter(user_id=user.pk).values_list("mailbox_id", "role")
    agent_of = frozenset(m for m, r in rows if r == Membership.Role.AGENT)
    supervises = frozenset(m for m, r in rows if r == Membership.Role.SUPERVISOR)
    full_name = getattr(user, "get_full_name", lambda: "")()
    name = str(full_name or user.get_username()).strip()
    return Actor(user.pk, name, role, agent_of, supervises)


def user_of(actor: Actor) -> Any:
    """The Django user behind an actor (None for the system)."""
    if actor.user_id is None:
        return None
    return get_user_model().objects.get(pk=actor.user_id)


# -- what an actor sees -------------------------------------------------------------------


def mailboxes(actor: Actor) -> QuerySet[Mailbox]:
    return Mailbox.objects.filter(actor.mailbox_q("pk"))


def mailbox(actor: Actor, name: str) -> Mailbox:
    found = mailboxes(actor).filter(name=name).first()
    if found is None:
        raise NotFound(f"no mailbox named {name!r}")
    return found


def tickets(actor: Actor) -> QuerySet[Ticket]:
    return Ticket.objects.filter(actor.mailbox_q())


def ticket(actor: Actor, number: int) -> Ticket:
    """The ticket with this number, if the actor may see it; NotFound otherwise."""
    found = tickets(actor).select_related("mailbox", "contact").filter(number=number).first()
    if found is None:
        raise NotFound(f"no ticket #{number}")
    return found


def message(actor: Actor, pk: int) -> Message:
    found = (
        Message.objects.filter(actor.mailbox_q("ticket__mailbox"), ticket__isnull=False, pk=pk)
        .select_related("ticket", "ticket__mailbox")
        .first()
    )
    if found is None:
        raise NotFound(f"no message {pk}")
    return found


def kept_messages(actor: Actor) -> QuerySet[Message]:
    """Incoming mail kept on no ticket (filtered, or refused a new ticket): for admins only."""
    require_admin(actor)
    return Message.objects.filter(ticket__isnull=True, direction=Message.Direction.IN)


def traced_message(actor: Actor, pk: int) -> Message:
    """A message whose trace the actor may read: one of a ticket they see; for an admin,
    also mail kept on no ticket."""
    if actor.is_admin:
        found = Message.objects.filter(pk=pk).select_related("ticket", "mailbox").first()
        if found is not None and (found.ticket is not None or found.excluded):
            return found
        raise NotFound(f"no message {pk}")
    return message(actor, pk)


def attachment(actor: Actor, pk: int) -> Attachment:
    found = (
        Attachment.objects.filter(
            actor.mailbox_q("message__ticket__mailbox"), message__ticket__isnull=False, pk=pk
        )
        .select_related("blob", "message", "message__ticket")
        .first()
    )
    if found is None:
        raise NotFound(f"no attachment {pk}")
    return found


def outbox_items(actor: Actor) -> QuerySet[OutboxItem]:
    """Outgoing mail of the tickets the actor sees (a notice, on no ticket, is not among it)."""
    return OutboxItem.objects.filter(actor.mailbox_q("ticket__mailbox"), ticket__isnull=False)


def outbox_item(actor: Actor, pk: int) -> OutboxItem:
    found = outbox_items(actor).select_related("ticket").filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no outbox item {pk}")
    return found


# -- what an actor may do -----------------------------------------------------------------


def require_admin(actor: Actor) -> None:
    """Configuration (mailboxes, people, webhooks) is for admins only."""
    if not actor.is_admin:
        raise Forbidden("only an admin may do this")


def may_act_on(actor: Actor, ticket: Ticket) -> bool:
    """Agents of its mailbox, supervisors of it and admins may change a ticket."""
    return actor.sees(ticket.mailbox_id)


def require_act_on(actor: Actor, ticket: Ticket) -> None:
    if not actor.sees(ticket.mailbox_id):
        raise NotFound(f"no ticket #{ticket.number}")
    if not may_act_on(actor, ticket):
        raise Forbidden(f"you may read ticket #{ticket.number} but not change it")
