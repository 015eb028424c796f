"""What the pipeline steps share while one message flows through them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth.models import User

from deskmail.connectors.base import SourcePosition
from deskmail.ingest.store import Store
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Duplicate, Outcome
from deskmail.mail.message import ParsedMessage
from deskmail.mailboxes.config import MailboxConfig
from deskmail.mailboxes.models import Mailbox
from deskmail.routing.engine import Reply
from deskmail.tickets.models import Message, Ticket


@dataclass
class Context:
    mailbox: Mailbox  # the mailbox the message is filed under (an alias may change it)
    fetched_by: Mailbox  # the mailbox whose source brought it
    raw: bytes
    sha256: str
    now: dt.datetime
    store: Store
    source: SourcePosition | None = None
    delivered_to: str | None = None
    history: bool = False
    dry_run: bool = False
    parsed: ParsedMessage = field(default_factory=ParsedMessage)
    # Parsed already (a batch parses its messages in parallel first).
    parsed_in_advance: ParsedMessage | None = None
    message_id: str = ""
    synthetic_message_id: bool = False
    address: str = ""  # which of our addresses it was delivered to
    # Set when a step ends the flow early.
    outcome: Outcome | None = None
    stopped: bool = False
    excluded_reason: str = ""
    # A duplicate: how it was recognised, and the stored message it duplicates.
    duplicate: Duplicate | None = None
    message: Message | None = None
    ticket: Ticket | None = None
    new_ticket: bool = False
    linked_from: Ticket | None = None
    link_reason: str = ""
    identity_key: str = ""
    trace: list[Decision] = field(default_factory=list)
    auto_reply: bool = False
    bounce: bool = False
    # What is written besides the message: a note, an acknowledgement, the .eml copy.
    note: str = ""
    acknowledge: bool = False
    attach_original: bool = False
    # What routing and the triggers decided that needs the saved ticket and message.
    tags: list[str] = field(default_factory=list)
    auto_replies: list[Reply] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Triggers that tell the webhooks (name, event), after the ticket's own events.
    webhooks: list[tuple[str, str]] = field(default_factory=list)
    # Templates the triggers mail to the agents.
    agent_notices: list[str] = field(default_factory=list)
    # The agent distribution chose, and why: the ticket waits for them to accept.
    offer: tuple[User, str] | None = None
    # The answer to mail kept because the mailbox takes no new tickets.
    notice: Reply | None = None
    # Sender confirmation: the new ticket waits for its sender (and the address the
    # confirmation mail goes to, when it may go); or this reply confirmed it (and how).
    held: bool = False
    confirm_to: str = ""
    released: str = ""

    @property
    def settings(self) -> MailboxConfig:
        return self.mailbox.settings

    @property
    def sender(self) -> str:
        return self.parsed.from_address

    @property
    def own_addresses(self) -> frozenset[str]:
        """Every address and alias of every mailbox."""
        return self.store.directory().own

    @property
    def is_reply(self) -> bool:
        """A reply has In-Reply-To or References; new mail has neither."""
        return bool(self.parsed.in_reply_to or self.parsed.references)

    @property
    def mail_time(self) -> dt.datetime:
        """The mail's own Date; the arrival time when it is missing or in the future."""
        date = self.parsed.date
        if date is None or date > self.now:
            return self.now
        return date

    @property
    def source_key(self) -> str:
        return self.source.key() if self.source is not None else ""

    def stop(self, outcome: Outcome, reason: str = "") -> None:
        self.stopped = True
        self.outcome = outcome
        if outcome == Outcome.EXCLUDED:
            self.excluded_reason = reason

    def found_duplicate(self, how: Duplicate, message: Message) -> None:
        """The message is already stored: the flow ends, and a delivery may be recorded."""
        self.duplicate, self.message, self.ticket = how, message, message.ticket
        self.stop(Outcome.DUPLICATE)
