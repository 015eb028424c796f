"""The console part of a mailbox's configuration, changed from the console by the people
who run that mailbox (its supervisors, and admins)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from deskmail.mailboxes.config import ConsoleConfig
from deskmail.mailboxes.models import Mailbox
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound


def supervised(actor: Actor) -> list[Mailbox]:
    """The mailboxes whose console settings the actor may change."""
    return [m for m in access.mailboxes(actor) if actor.supervises_mailbox(m.pk)]


def console_settings(actor: Actor, name: str) -> tuple[Mailbox, ConsoleConfig]:
    mailbox = access.mailbox(actor, name)
    if not actor.supervises_mailbox(mailbox.pk):
        raise NotFound(f"no mailbox named {name!r}")
    return mailbox, mailbox.settings.console


def update_console_settings(actor: Actor, name: str, **changes: Any) -> ConsoleConfig:
    """Change some console settings of a mailbox; Invalid names the field that is wrong.

    Written without moving the mailbox's configuration version (updated_at): the
    worker has no reason to restart the mailbox's sync for a console setting.
    """
    mailbox, current = console_settings(actor, name)
    try:
        updated = ConsoleConfig.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise Invalid(f"{field}: {error['msg']}", field=field) from None
    config = dict(mailbox.config or {})
    config["console"] = updated.model_dump(mode="json")
    Mailbox.objects.filter(pk=mailbox.pk).update(config=config)
    return updated
