"""The mailbox configuration schema: the YAML contract in DESIGN.md, as pydantic models.

A mailbox row stores its whole configuration as the JSON of `MailboxConfig`
(secrets excluded: they are encrypted separately). Everything that reads a
mailbox's settings (the pipeline, the connectors, the outbox) reads this
object, so there is one source of truth and one validator.

A switched-off setting is omitted or null; lists default to empty.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

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


class RepliesConfig(Strict):
    auto_acknowledge: bool = False
    end_of_message_marker: str | None = None
    powered_by_footer: bool = True
    max_attachments: Annotated[int, Field(ge=0)] = 10


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
    console: ConsoleConfig = Field(default_factory=lambda: ConsoleConfig())

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


MailboxConfig.model_rebuild()
