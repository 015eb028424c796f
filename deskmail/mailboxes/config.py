"""The mailbox configuration schema: the YAML contract in DESIGN.md, as pydantic models.

A mailbox row stores its whole configuration as the JSON of `MailboxConfig`
(secrets excluded: they are encrypted separately). Everything that reads a
mailbox's settings (the pipeline, the connectors, the outbox) reads this
object, so there is one source of truth and one validator.

A switched-off setting is omitted or null; lists default to empty.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    field_validator,
    model_validator,
)

from deskmail.connectors.settings import InboundConfig, OAuthSettings, OutboundConfig, Strict
from deskmail.mailboxes import patterns

__all__ = ["InboundConfig", "MailboxConfig", "OutboundConfig", "Strict"]

TicketStatus = Literal["new", "open", "pending", "resolved", "closed"]


class RateLimit(Strict):
    max: Annotated[int, Field(ge=1)] = 20
    per_minutes: Annotated[int, Field(ge=1)] = 60


class FiltersConfig(Strict):
    allowed_domains: list[str] = []
    blocked_senders: list[str] = []
    exclude_auto_replies: bool = True
    auto_reply_keywords: list[str] = []
    sender_rate_limit: RateLimit | None = RateLimit()

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.lower().lstrip("@") for d in value]

    @field_validator("blocked_senders")
    @classmethod
    def _senders(cls, value: list[str]) -> list[str]:
        return [s.lower() for s in value]


class IdentityRule(Strict):
    match: Literal["subject", "body"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _usable(cls, value: str) -> str:
        patterns.check(value)
        return value


class CombineSameSubject(Strict):
    within_hours: Annotated[float, Field(gt=0)] = 72
    statuses: list[TicketStatus] = ["new", "open", "pending"]


class ThreadingConfig(Strict):
    subject_tag: bool = True
    identity_rule: IdentityRule | None = None
    combine_same_subject: CombineSameSubject | None = None
    reply_to_closed: Literal["reopen", "new_ticket"] = "reopen"
    new_ticket_after_closed_hours: Annotated[float, Field(ge=0)] = 0


class FieldMapping(Strict):
    field: str
    # Where the value comes from: subject, body, sender, sender_name, importance,
    # attachments, or any header as `header:X-Name`.
    source: str | None = Field(default=None, alias="from")
    default: str | int | float | bool | None = None
    # A restricted field is only ever set from its default, never from the mail.
    restricted: bool = False

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TicketsConfig(Strict):
    queue: str | None = None
    type: str | None = None
    create_contacts: bool = True
    attach_original_email: bool = False
    field_mappings: list[FieldMapping] = []
    # Off: mail that belongs to no ticket is kept and marked, and opens none.
    allow_new_tickets: bool = True
    # A routing.templates name sent back to such mail's sender (automatic mail never).
    no_new_tickets_reply: str | None = None
    # On: the first mail of a sender unknown to this mailbox opens a ticket that waits,
    # hidden, until the sender confirms (a reply to our mail, or its link).
    confirm_new_senders: bool = False
    # Not confirmed within this many hours: kept, marked unconfirmed.
    confirm_within_hours: Annotated[float, Field(gt=0)] = 48
    # Confirmation mails one sender address gets in 24 hours, at most.
    confirmations_per_day: Annotated[int, Field(ge=1)] = 3

    @field_validator("no_new_tickets_reply")
    @classmethod
    def _reply_template(cls, value: str | None) -> str | None:
        return _known_template(value.strip() if value is not None else None)


class RepliesConfig(Strict):
    auto_acknowledge: bool = False
    end_of_message_marker: str | None = None
    powered_by_footer: bool = True
    max_attachments: Annotated[int, Field(ge=0)] = 10


# -- routing and triggers: what happens to a new ticket -----------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Priority = Literal["low", "normal", "high", "urgent"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def time_range(text: str) -> tuple[int, int]:
    """ "09:00-17:30" as minutes of the day (540, 1050); ValueError in words otherwise."""
    found = _RANGE.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time range like 09:00-17:30")
    h1, m1, h2, m2 = (int(part) for part in found.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 24 * 60:
        raise ValueError(f"{text!r} ends after 24:00")
    if end <= start:
        raise ValueError(
            f"{text!r} ends before it starts; split a range past midnight in two "
            "(22:00-24:00 on one day, 00:00-06:00 on the next)"
        )
    return start, end


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _ADDRESS.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


@dataclass(frozen=True)
class _Scope:
    """What the routing section being validated defines: its templates, its working hours."""

    templates: frozenset[str]
    working_hours: bool

    @classmethod
    def of(cls, value: Any) -> _Scope | None:
        if isinstance(value, RoutingConfig):
            return cls(frozenset(t.name for t in value.templates), value.working_hours is not None)
        if not isinstance(value, dict):
            return None
        names = set()
        for item in value.get("templates") or []:
            name = item.get("name") if isinstance(item, dict) else getattr(item, "name", None)
            if isinstance(name, str):
                names.add(name.strip())
        return cls(frozenset(names), value.get("working_hours") is not None)


_SCOPE: ContextVar[_Scope | None] = ContextVar("routing_scope", default=None)


def _known_template(value: str | None) -> str | None:
    scope = _SCOPE.get()
    if value is not None and scope is not None and value not in scope.templates:
        raise ValueError(f"template {value!r} is not defined in routing.templates")
    return value


def _needs_hours(value: object) -> object:
    scope = _SCOPE.get()
    if value is not None and scope is not None and not scope.working_hours:
        raise ValueError("a working-hours rule needs routing.working_hours")
    return value


class WorkingHours(Strict):
    """Time ranges per weekday in the routing time zone; holidays are closed all day."""

    monday: list[str] = []
    tuesday: list[str] = []
    wednesday: list[str] = []
    thursday: list[str] = []
    friday: list[str] = []
    saturday: list[str] = []
    sunday: list[str] = []
    holidays: list[dt.date] = []

    @field_validator(*WEEKDAYS)
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for item in value:
            time_range(item)
        return value

    def ranges(self, weekday: int) -> list[tuple[int, int]]:
        """The open ranges of a weekday (0 is Monday), as minutes of the day."""
        return [time_range(item) for item in getattr(self, WEEKDAYS[weekday])]


class Distribute(Strict):
    """Give the ticket to one of the mailbox's available agents."""

    method: Literal["round_robin", "least_busy"] = "round_robin"
    # Agents with this many open tickets (new, open, pending) get no more.
    max_open: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"method": value} if isinstance(value, str) else value


_ACTION_KEYS = ("queue", "agent", "distribute", "hours", "auto_reply", "stop")


class RoutingAction(Strict):
    """One step of the routing plan: exactly one of its keys."""

    queue: str | None = None
    agent: str | None = None
    distribute: Distribute | None = None
    hours: HoursBranch | None = None
    auto_reply: str | None = None
    stop: bool | None = None

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        return None if value is None else _email(value)

    _template = field_validator("auto_reply")(_known_template)
    _hours = field_validator("hours")(_needs_hours)

    @model_validator(mode="after")
    def _one_key(self) -> RoutingAction:
        given = [key for key in _ACTION_KEYS if getattr(self, key) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"an action has exactly one of {', '.join(_ACTION_KEYS)} (found: {found})"
            )
        if self.stop is False:
            raise ValueError("stop: true ends the plan; leave it out to go on")
        return self


class HoursBranch(Strict):
    """A working-hours rule: these actions inside the hours, those outside."""

    inside: list[RoutingAction] = []
    outside: list[RoutingAction] = []


class TriggerConditions(Strict):
    """All given conditions must hold; a list holds when any of its items does."""

    sender: list[str] = []
    sender_domain: list[str] = []
    subject_contains: list[str] = []
    body_contains: list[str] = []
    subject_matches: str | None = None
    body_matches: str | None = None
    priority: list[Priority] = []
    status: list[TicketStatus] = []
    type: list[str] = []
    tags: list[str] = []
    hours: Literal["inside", "outside"] | None = None
    # The mail arrived in one of these ranges ("22:00-24:00") or on one of these days,
    # in the routing time zone.
    time_of_day: list[str] = []
    weekdays: list[Weekday] = []
    # Custom fields of the ticket equal to these values (compared as text, case-blind).
    fields: dict[str, str] = {}

    @field_validator("time_of_day")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for item in value:
            time_range(item)
        return value

    @field_validator("sender")
    @classmethod
    def _senders(cls, value: list[str]) -> list[str]:
        return [_email(item) for item in value]

    @field_validator("sender_domain")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [item.strip().lower().lstrip("@") for item in value]

    @field_validator("subject_matches", "body_matches")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            patterns.check(value)
        return value

    _hours = field_validator("hours")(_needs_hours)


class TriggerActions(Strict):
    queue: str | None = None
    priority: Priority | None = None
    status: TicketStatus | None = None
    type: str | None = None
    tags: list[str] = []
    # An internal note on the ticket, for the agents.
    note: str | None = None
    assign: str | None = None
    distribute: Distribute | None = None
    auto_reply: str | None = None
    # Custom fields to set on the ticket; null clears one.
    fields: dict[str, str | int | float | bool | None] = {}
    # Tell the webhooks: a `trigger.matched` event (the trigger's name, the ticket) goes to
    # every endpoint that takes that kind, signed and retried like every other event.
    webhook: bool = False
    # A template mailed to the agents: the assignee, or the mailbox's team while nobody has
    # the ticket. Off the customer's thread; an agent's answer becomes an internal note.
    notify_agents: str | None = None

    @field_validator("assign")
    @classmethod
    def _assign(cls, value: str | None) -> str | None:
        return None if value is None else _email(value)

    _template = field_validator("auto_reply", "notify_agents")(_known_template)


class Trigger(Strict):
    """When a ticket is created, its customer writes again, an agent replies or changes it:
    if ..., then ..."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    # YAML reads a bare `on` as true, hence `when`.
    when: list[Literal["created", "customer_replied", "agent_replied", "updated"]] = ["created"]
    conditions: TriggerConditions = Field(default_factory=TriggerConditions, alias="if")
    actions: TriggerActions = Field(alias="then")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    @field_validator("when", mode="before")
    @classmethod
    def _one_event(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ReplyTemplate(Strict):
    """An automatic answer: subject and body are Django templates (the body in HTML)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    subject: str | None = None
    body: Annotated[str, Field(min_length=1)]


class RoutingConfig(Strict):
    time_zone: str = "UTC"
    working_hours: WorkingHours | None = None
    actions: list[RoutingAction] = []
    triggers: list[Trigger] = []
    templates: list[ReplyTemplate] = []
    # Automatic answers (routing and triggers) one sender gets per hour, at most.
    auto_replies_per_hour: Annotated[int, Field(ge=1)] = 3

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name (such as Europe/Berlin or UTC)"
            ) from None
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _in_scope(cls, value: Any, handler: ModelWrapValidatorHandler[RoutingConfig]) -> Any:
        """Let the actions and triggers check the names they use against this section."""
        token = _SCOPE.set(_Scope.of(value))
        try:
            return handler(value)
        finally:
            _SCOPE.reset(token)

    @model_validator(mode="after")
    def _unique(self) -> RoutingConfig:
        names = [template.name for template in self.templates]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"templates: {name!r} is defined twice")
        triggers = [trigger.name for trigger in self.triggers]
        for name in triggers:
            if triggers.count(name) > 1:
                raise ValueError(f"triggers: two triggers are named {name!r}")
        return self

    def template(self, name: str) -> ReplyTemplate | None:
        return next((t for t in self.templates if t.name == name), None)


class MailboxConfig(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    key: Annotated[str, Field(min_length=1, max_length=5, pattern=r"^[A-Za-z0-9]+$")]
    address: str
    display_name: str | None = None
    reply_to: str | None = None
    status: Literal["draft", "active", "disabled"] = "draft"
    purpose: Literal["receive", "receive_send"] = "receive_send"
    inbound: InboundConfig | None = None
    outbound: OutboundConfig | None = None
    # App-only OAuth2 (client credentials) for `auth: oauth2`; see OAuthSettings.
    oauth: OAuthSettings | None = None
    filters: FiltersConfig = FiltersConfig()
    aliases: list[str] = []
    threading: ThreadingConfig = ThreadingConfig()
    tickets: TicketsConfig = TicketsConfig()
    replies: RepliesConfig = RepliesConfig()
    routing: RoutingConfig = RoutingConfig()
    console: ConsoleConfig = Field(default_factory=lambda: ConsoleConfig())

    @model_validator(mode="wrap")
    @classmethod
    def _templates_in_scope(
        cls, value: Any, handler: ModelWrapValidatorHandler[MailboxConfig]
    ) -> Any:
        """Let settings outside `routing` check the template names they use against it."""
        scope = None
        if isinstance(value, dict):
            scope = _Scope.of(value.get("routing") or {})
        token = _SCOPE.set(scope)
        try:
            return handler(value)
        finally:
            _SCOPE.reset(token)

    @field_validator("status", mode="before")
    @classmethod
    def _not_failed(cls, value: object) -> object:
        if value == "failed":
            raise ValueError(
                "'failed' is set by deskmail itself after repeated sync failures and cannot "
                "be configured; use draft, active or disabled"
            )
        return value

    @field_validator("address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        value = value.strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        out = []
        for item in value:
            item = item.strip().lower()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", item):
                raise ValueError(f"{item!r} is not an email address")
            out.append(item)
        return out

    @field_validator("key")
    @classmethod
    def _key_upper(cls, value: str) -> str:
        return value.upper()

    def own_addresses(self) -> set[str]:
        """The mailbox address and its aliases: never a participant, never a recipient."""
        return {self.address, *self.aliases}


_NOTIFICATION_VARIABLES = {"source", "sender", "queue", "subject"}


class ConsoleConfig(Strict):
    """How the agent console works for this mailbox's team."""

    # A reply waits this long in the outbox, with an "Undo" button, before it may go.
    undo_send_seconds: Annotated[int, Field(ge=0, le=300)] = 10
    # Whether "include the previous message" starts ticked when forwarding.
    forward_include_previous: bool = True
    # Uploads per reply, all files together (the count is replies.max_attachments).
    max_upload_mb: Annotated[float, Field(gt=0)] = 25
    # Outcomes to pick when closing a ticket; required_disposition makes one mandatory.
    dispositions: list[str] = []
    require_disposition: bool = False
    # A transfer waits this long for the receiving agent to accept, then this long in
    # its queue, then comes back to the mailbox as unassigned and unread.
    wait_for_agent_minutes: Annotated[float, Field(ge=0)] = 15
    wait_for_queue_minutes: Annotated[float, Field(ge=0)] = 60
    # New-mail notifications in open consoles.
    notify_sound: bool = True
    notify_shake: bool = False
    # Variables: {source} (the mailbox), {sender}, {queue}, {subject}.
    notify_template: str = "New mail from {sender} in {source}: {subject}"
    # Suggested answers (earlier replies and canned answers) beside the reply composer.
    suggestions: bool = True

    @field_validator("notify_template")
    @classmethod
    def _known_variables(cls, value: str) -> str:
        import string

        try:
            names = {field for _, field, _, _ in string.Formatter().parse(value) if field}
        except ValueError as exc:
            raise ValueError(f"not a template: {exc}") from None
        unknown = names - _NOTIFICATION_VARIABLES
        if unknown:
            raise ValueError(
                f"unknown variable {{{sorted(unknown)[0]}}}; use "
                + ", ".join(f"{{{n}}}" for n in sorted(_NOTIFICATION_VARIABLES))
            )
        return value


RoutingAction.model_rebuild()
MailboxConfig.model_rebuild()
