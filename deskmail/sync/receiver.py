"""The forwarding address: an SMTP/LMTP receiver that feeds mail into the pipeline.

A team forwards its support address to deskmail (or points an MX at it). The
receiver rejects unknown recipients at RCPT, so the sending server bounces
them at once, and answers DATA with 250 only after the message is committed
to the inbox: if anything fails before that, the sender gets a 4xx and
retries, and nothing is lost. The pipeline then processes the inbox on its own.

While the email channel is switched off, every recipient gets a temporary failure
(451 4.3.2) instead: storing the mail and leaving it unprocessed would hide it in
a second queue; refusing for now leaves it in the sending server's queue, which
tries again by itself (for days, by default) and delivers it once the channel is
on again. Nothing is lost, and nothing is taken in that the switch promised not to.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import close_old_connections, connections, transaction

from deskmail.connectors.base import SourcePosition
from deskmail.core.channel import ChannelWatch
from deskmail.ingest.inbox import Arrival, accept
from deskmail.mailboxes.models import Mailbox, MailboxAddress

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
CHANNEL_OFF = "451 4.3.2 The helpdesk's email channel is switched off, try again later"


def _recipient_mailbox(address: str) -> Mailbox | None:
    close_old_connections()
    row = (
        MailboxAddress.objects.select_related("mailbox")
        .filter(address=address.lower(), mailbox__status=Mailbox.Status.ACTIVE)
        .first()
    )
    return row.mailbox if row else None


def _check_recipient(address: str) -> Mailbox | None:
    """RCPT runs on a pool thread that may never run again: leave no connection behind."""
    try:
        return _recipient_mailbox(address)
    finally:
        connections.close_all()


def _channel_is_on(channel: ChannelWatch) -> bool:
    try:
        return channel.is_on()
    finally:
        connections.close_all()


def _deliver(raw: bytes, recipients: list[str]) -> list[str]:
    """Store the mail in the inbox once per recipient mailbox, in one commit; what became
    of each recipient."""
    digest = hashlib.sha256(raw).hexdigest()
    targets = [(address, _recipient_mailbox(address)) for address in recipients]
    outcomes = []
    with transaction.atomic():
        for address, mailbox in targets:
            if mailbox is None:  # switched off between RCPT and DATA
                outcomes.append(f"{address}: no longer accepted")
                continue
            position = SourcePosition(kind="smtp", folder=address.lower(), uid=digest)
            accept(mailbox, [Arrival(raw, position, delivered_to=address.lower())])
            outcomes.append(f"{address}: stored")
    return outcomes


def _deliver_and_close(raw: bytes, recipients: list[str]) -> list[str]:
    try:
        return _deliver(raw, recipients)
    finally:
        connections.close_all()


class DeliveryHandler:
    """aiosmtpd handler: check recipients early, store on DATA, answer after the commit.

    `on_accepted` is called after each stored mail (it wakes the inbox processor).
    The channel switch is read through `channel` (at most every couple of seconds).
    """

    def __init__(
        self, on_accepted: Callable[[], None] | None = None, channel: ChannelWatch | None = None
    ) -> None:
        self.on_accepted = on_accepted
        self.channel = channel or ChannelWatch()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not await asyncio.to_thread(_channel_is_on, self.channel):
            return CHANNEL_OFF
        mailbox = await asyncio.to_thread(_check_recipient, address)
        if mailbox is None:
            return "550 5.1.1 Recipient address rejected: not a deskmail mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if not await asyncio.to_thread(_channel_is_on, self.channel):
            return CHANNEL_OFF  # switched off since RCPT
        try:
            outcomes = await asyncio.to_thread(_deliver_and_close, raw, list(envelope.rcpt_tos))
        except Exception:
            log.exception("could not store a message from %s", session.peer)
            return "451 4.3.0 Temporary failure storing the message, try again later"
        log.info("received %d bytes: %s", len(raw), "; ".join(outcomes))
        if self.on_accepted is not None:
            self.on_accepted()
        return "250 2.0.0 Message accepted"


def smtp_kwargs() -> dict[str, Any]:
    return {"data_size_limit": MAX_MESSAGE_BYTES, "decode_data": False}
