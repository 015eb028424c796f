"""The forwarding address: an SMTP/LMTP receiver that feeds mail into the pipeline.

A team forwards its support address to deskmail (or points an MX at it). The
receiver rejects unknown recipients at RCPT, so the sending server bounces
them at once, and answers DATA with 250 only after the message is committed:
if anything fails before that, the sender gets a 4xx and retries, and nothing
is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import close_old_connections, connections

from deskmail.mailboxes.models import Mailbox, MailboxAddress

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024


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


def _deliver(raw: bytes, recipients: list[str]) -> list[str]:
    """Ingest once per recipient mailbox; returns the outcome per recipient."""
    from deskmail.connectors.base import SourcePosition
    from deskmail.ingest.api import ingest

    close_old_connections()
    digest = hashlib.sha256(raw).hexdigest()
    outcomes = []
    for address in recipients:
        mailbox = _recipient_mailbox(address)
        if mailbox is None:  # switched off between RCPT and DATA
            outcomes.append(f"{address}: no longer accepted")
            continue
        position = SourcePosition(kind="smtp", folder=address.lower(), uid=digest)
        result = ingest(mailbox, raw, source=position, delivered_to=address.lower())
        outcomes.append(f"{address}: {result.outcome}")
    return outcomes


def _deliver_and_close(raw: bytes, recipients: list[str]) -> list[str]:
    try:
        return _deliver(raw, recipients)
    finally:
        connections.close_all()


class DeliveryHandler:
    """aiosmtpd handler: check recipients early, store on DATA, answer after the commit."""

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
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
        try:
            outcomes = await asyncio.to_thread(_deliver_and_close, raw, list(envelope.rcpt_tos))
        except Exception:
            log.exception("could not store a message from %s", session.peer)
            return "451 4.3.0 Temporary failure storing the message, try again later"
        log.info("received %d bytes: %s", len(raw), "; ".join(outcomes))
        return "250 2.0.0 Message accepted"


def smtp_kwargs() -> dict[str, Any]:
    return {"data_size_limit": MAX_MESSAGE_BYTES, "decode_data": False}
