"""What the commands share: finding a mailbox by name, acting as someone, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import CommandError, OutputWrapper

from deskmail.mailboxes.models import Mailbox
from deskmail.services import access, people
from deskmail.services.access import SYSTEM, Actor
from deskmail.services.errors import ServiceError


def find_mailbox(name: str) -> Mailbox:
    """The mailbox called `name`, or a CommandError that lists the names there are."""
    try:
        return Mailbox.objects.get(name=name)
    except Mailbox.DoesNotExist:
        known = list(Mailbox.objects.order_by("name").values_list("name", flat=True))
        listing = ", ".join(known) if known else "none yet (see `deskmail mailboxes load`)"
        raise CommandError(f"no mailbox named {name!r}; known mailboxes: {listing}") from None


def actor(email: str | None) -> Actor:
    """The operator (who may do everything), or the person `--as EMAIL` names."""
    if not email:
        return SYSTEM
    with service_errors():
        return access.actor_for(people.find_user(email))


@contextmanager
def service_errors() -> Iterator[None]:
    """A refusal of the service layer becomes the command's error, in its own words."""
    try:
        yield
    except ServiceError as exc:
        field = getattr(exc, "field", None)
        raise CommandError(f"{field}: {exc}" if field else str(exc)) from None


def write_json_array(out: OutputWrapper, rows: Iterable[Any], *, ensure_ascii: bool = True) -> None:
    """The text of `json.dumps(list(rows), indent=2)`, written one row at a time.

    The same bytes as before for the same rows, without holding them all: a long
    list streams in constant memory.
    """
    written = False
    for row in rows:
        item = json.dumps(row, indent=2, ensure_ascii=ensure_ascii).replace("\n", "\n  ")
        out.write(f"{',' if written else '['}\n  {item}", ending="")
        written = True
    out.write("\n]" if written else "[]")
