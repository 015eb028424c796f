"""What the pipeline steps share while one message flows through them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deskmail.ingest.trace import Decision
from deskmail.mail.message import ParsedMessage

if TYPE_CHECKING:
    from deskmail.ingest.api import SourcePosition
    from deskmail.mailboxes.config import MailboxConfig
    from deskmail.mailboxes.models import Mailbox
    from deskmail.tickets.models import Message, Ticket


@dataclass
class Context:
    mailbox: Mailbox  # the mailbox the message is filed under (an alias may change it)
    raw: bytes
    sha256: str
    now: dt.datetime
    source: SourcePosition | None = None
    delivered_to: str | None = None
    history: bool = False
    dry_run: bool = False
    fetched_by: Mailbox | None = None  # the mailbox whose connector brought it
    parsed: ParsedMessage = field(default_factory=ParsedMessage)
    message_id: str = ""
    synthetic_message_id: bool = False
    address: str = ""  # which of our addresses it was delivered to
    # The outcome when a step ends the flow early: duplicate or excluded.
    outcome: str | None = None
    stopped: bool = False
    excluded_reason: str = ""
    # The stored message this one duplicates (or the one it was stored as).
    message: Message | None = None
    ticket: Ticket | None = None
    new_ticket: bool = False
    linked_from: Ticket | None = None
    link_reason: str = ""
    identity_key: str = ""
    trace: list[Decision] = field(default_factory=list)
    auto_reply: bool = False
    bounce: bool = False
    # What the store writes besides the message: a note, an outbox item, the .eml copy.
    note: str = ""
    acknowledge: bool = False
    attach_original: bool = False
    # Lookups shared by the messages of one batch (our own addresses, queues, types).
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> MailboxConfig:
        return self.mailbox.settings

    @property
    def sender(self) -> str:
        return self.parsed.from_address

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

    def adopt(self, ticket: Ticket | None) -> Ticket | None:
        """The one in-memory instance of a ticket within a batch (changes wait there).

        A ticket the batch did not create is re-read under a row lock the first
        time, so a live worker cannot change it while the batch holds a copy.
        """
        batch = self.cache.get("batch")
        if ticket is None or batch is None:
            return ticket
        return batch.ticket(ticket.pk)

    def stop(self, outcome: str, reason: str = "") -> None:
        self.stopped = True
        self.outcome = outcome
        if outcome == "excluded":
            self.excluded_reason = reason
