"""People: accounts with a role, and the mailboxes whose teams they are on (admins only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q

from deskmail.mailboxes.models import Mailbox, Membership
from deskmail.services import access
from deskmail.services.access import ROLE_GROUPS, Actor, Role
from deskmail.services.errors import Invalid, NotFound


def _email(address: str) -> str:
    address = address.strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise Invalid(f"{address!r} is not an email address", field="email") from None
    return address


def find_user(email: str) -> Any:
    user = get_user_model().objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise NotFound(f"no person with the address {email.strip()!r}")
    return user


def create_user(
    actor: Actor,
    email: str,
    role: Role,
    *,
    mailboxes: Iterable[str] = (),
    password: str | None = None,
) -> Any:
    """A new person who signs in with their address; on the teams of `mailboxes`.

    Agents and supervisors join the named mailboxes in that capacity. Without a
    password the account cannot sign in until one is set.
    """
    access.require_admin(actor)
    address = _email(email)
    users = get_user_model()
    if users.objects.filter(email__iexact=address).exists():
        raise Invalid(f"there is already a person with the address {address}", field="email")
    targets = [access.mailbox(actor, name) for name in mailboxes]
    with transaction.atomic():
        user = users(username=address, email=address)
        if password is not None:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise Invalid(" ".join(exc.messages), field="password") from None
            user.set_password(password)
        else:
            user.set_unusable_password()
        if role == Role.ADMIN:
            user.is_staff = user.is_superuser = True
        user.save()
        user.groups.add(Group.objects.get_or_create(name=ROLE_GROUPS[role])[0])
        membership = (
            Membership.Role.SUPERVISOR if role == Role.SUPERVISOR else Membership.Role.AGENT
        )
        for mailbox in targets:
            Membership.objects.create(mailbox=mailbox, user=user, role=membership)
    return user


def add_to_team(
    actor: Actor, mailbox: Mailbox, emails: Iterable[str], role: str = Membership.Role.AGENT
) -> list[str]:
    """Put people on a mailbox's team (as agents unless said otherwise); who was added."""
    access.require_admin(actor)
    people = [find_user(email) for email in emails]
    added = []
    with transaction.atomic():
        for user in people:
            _, created = Membership.objects.update_or_create(
                mailbox=mailbox, user=user, defaults={"role": role}
            )
            if created:
                added.append(user.email)
    return added


def remove_from_team(actor: Actor, mailbox: Mailbox, emails: Iterable[str]) -> list[str]:
    """Take people off a mailbox's team; who was removed."""
    access.require_admin(actor)
    people = [find_user(email) for email in emails]
    removed = []
    for user in people:
        deleted, _ = Membership.objects.filter(mailbox=mailbox, user=user).delete()
        if deleted:
            removed.append(user.email)
    return removed


def team(mailbox: Mailbox) -> list[tuple[str, str]]:
    """(address, role) of everyone on a mailbox's team."""
    rows = Membership.objects.filter(mailbox=mailbox).select_related("user").order_by("user__email")
    return [(row.user.email, row.role) for row in rows]


def colleagues(actor: Actor) -> list[Any]:
    """The active people on the teams of the mailboxes the actor sees (everyone, for admins)."""
    users = get_user_model().objects.filter(is_active=True)
    if not actor.is_admin:
        users = users.filter(mailbox_memberships__mailbox_id__in=sorted(actor.mailbox_ids))
    return list(users.distinct().order_by("first_name", "last_name", "email", "username"))


def team_of(mailbox_id: int) -> list[Any]:
    """The active people who may work a mailbox's tickets: its team, and the admins."""
    users = get_user_model().objects.filter(is_active=True)
    return list(
        users.filter(Q(mailbox_memberships__mailbox_id=mailbox_id) | Q(is_superuser=True))
        .distinct()
        .order_by("first_name", "last_name", "email", "username")
    )


def display_name(user: Any) -> str:
    return str(user.get_full_name() or user.email or user.get_username()).strip()


def everyone(actor: Actor) -> list[dict[str, Any]]:
    """Every person with their role and teams (admins only)."""
    access.require_admin(actor)
    from deskmail.services.access import role_of

    users = get_user_model().objects.prefetch_related("groups").order_by("email", "username")
    memberships: dict[int, list[tuple[str, str]]] = {}
    for row in Membership.objects.select_related("mailbox").order_by("mailbox__name"):
        memberships.setdefault(row.user_id, []).append((row.mailbox.name, row.role))
    return [
        {
            "user": user,
            "name": display_name(user),
            "role": role_of(user),
            "teams": memberships.get(user.pk, []),
        }
        for user in users
    ]
