"""Shared setup for the outbox tests: a mailbox, a customer's ticket, the mail we built."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

from deskmail.ingest.api import IngestResult, ingest
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import Ticket

SMTP_OFFLINE = {"host": "127.0.0.1", "port": 9, "security": "none"}


def support_mailbox(**config: Any) -> Mailbox:
    """support@example.com, "Example Support", with an SMTP server (that tests never reach)."""
    config.setdefault("display_name", "Example Support")
    config.setdefault("outbound", SMTP_OFFLINE)
    if "address" not in config:
        config.setdefault("aliases", ["help@example.com"])
    return make_mailbox(**config)


def customer_ticket(mailbox: Mailbox, **mail: Any) -> tuple[Ticket, IngestResult]:
    mail.setdefault("sender", "Ann Customer <ann@acme.example>")
    mail.setdefault("to", mailbox.address)
    result = ingest(mailbox, make_email(**mail))
    assert result.ticket is not None, result.trace
    return Ticket.objects.get(pk=result.ticket.pk), result


def built(item: OutboxItem) -> EmailMessage:
    """The mail an outbox row will send, parsed."""
    item.refresh_from_db()
    assert item.outgoing is not None
    raw = read_raw(item.outgoing.raw_sha256)
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return part.get_content()


def ids(value: str | None) -> list[str]:
    return [v.strip("<>") for v in (value or "").split()]
