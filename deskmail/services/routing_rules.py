"""A mailbox's routing and triggers as admins edit them in the console: the `routing`
section of its YAML, checked as `deskmail mailboxes load` checks it (every problem
with its line and field), tried on a pasted email before it is saved.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from deskmail.ingest.api import dry_run
from deskmail.mailboxes import loading
from deskmail.mailboxes.config import MailboxConfig
from deskmail.mailboxes.loading import Problem
from deskmail.mailboxes.models import Mailbox
from deskmail.services import access, mailbox_admin
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid

__all__ = ["Problem", "RoutingInvalid", "Trial", "routing_yaml", "save_routing", "try_routing"]

SECTION = "routing"

# A pasted email larger than this is not one anybody tries routing on by hand.
MAX_TRIAL_BYTES = 5 * 1024 * 1024


class RoutingInvalid(Invalid):
    """The routing text has problems, each with its line in the text and its field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(f"line {first.line}: {first.path}: {first.message}", field=SECTION)


@dataclass(frozen=True)
class Trial:
    """What the pipeline would do with the pasted email under the routing being edited."""

    outcome: str
    ticket_title: str
    trace: list[dict[str, Any]]


def routing_yaml(actor: Actor, name: str) -> tuple[Mailbox, str]:
    """The mailbox's routing section as YAML, without the settings left at their default."""
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    routing = mailbox.settings.routing.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    text = yaml.safe_dump(routing, sort_keys=False, allow_unicode=True) if routing else ""
    return mailbox, text


def _checked(actor: Actor, name: str, text: str) -> tuple[Mailbox, dict[str, Any], MailboxConfig]:
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    data = mailbox_admin.stored_config(mailbox)
    try:
        config = loading.check_section(data, SECTION, text)
    except loading.LoadRefused as exc:
        raise RoutingInvalid(exc.problems) from None
    return mailbox, data, config


def save_routing(actor: Actor, name: str, text: str) -> Mailbox:
    """Replace the mailbox's routing section; nothing changes when RoutingInvalid is raised."""
    mailbox, data, config = _checked(actor, name, text)
    data[SECTION] = config.routing.model_dump(mode="json", by_alias=True)
    try:
        loading.apply_one(data)
    except loading.LoadRefused as exc:
        raise RoutingInvalid(exc.problems) from None
    mailbox.refresh_from_db()
    return mailbox


def try_routing(actor: Actor, name: str, text: str, raw: bytes) -> Trial:
    """Run the pipeline on `raw` with the routing text, as `deskmail trace --dry-run`
    does: every step decided, nothing written, nothing sent."""
    if not raw.strip():
        raise Invalid(
            "paste an email, or choose an .eml file, to try the routing on", field="email"
        )
    if len(raw) > MAX_TRIAL_BYTES:
        raise Invalid(
            f"the email is larger than {MAX_TRIAL_BYTES // (1024 * 1024)} MiB", field="email"
        )
    mailbox, _, config = _checked(actor, name, text)
    trial = copy.copy(mailbox)
    trial.config = {
        **(mailbox.config or {}),
        SECTION: config.routing.model_dump(mode="json", by_alias=True),
    }
    result = dry_run(trial, raw)
    return Trial(
        outcome=result.outcome.value.replace("_", " "),
        ticket_title=result.ticket.title if result.ticket is not None else "",
        trace=[decision.to_json() for decision in result.trace],
    )
