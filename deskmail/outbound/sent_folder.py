"""A copy of each sent mail in the mailbox's IMAP Sent folder (`outbound.save_to_sent`)."""

from __future__ import annotations

import logging

from django.conf import settings

from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.imap import ImapConnector
from deskmail.mailboxes.connections import credentials
from deskmail.mailboxes.models import Mailbox

log = logging.getLogger(__name__)


def _folder(mailbox: Mailbox) -> str | None:
    config = mailbox.settings
    if config.outbound is None or not config.outbound.save_to_sent:
        return None
    if config.inbound is None or config.inbound.protocol != "imap":
        return None
    return config.outbound.save_to_sent


def _connector(mailbox: Mailbox) -> ImapConnector:
    inbound = mailbox.settings.inbound
    assert inbound is not None
    return ImapConnector(inbound, credentials(mailbox, "inbound"), ca_file=settings.CA_FILE)


def save_to_sent(mailbox: Mailbox, raw: bytes) -> bool:
    """Append raw to the Sent folder when the mailbox asks for it; True when it was saved.

    The mail is already sent: a failure here is logged and never fails the send.
    """
    folder = _folder(mailbox)
    if folder is None:
        return False
    try:
        with _connector(mailbox) as imap:
            imap.append(folder, raw)
    except ConnectorError as exc:
        log.warning("mailbox %s: could not save a sent mail to %s: %s", mailbox.name, folder, exc)
        return False
    return True


def already_in_sent(mailbox: Mailbox, message_id: str) -> bool:
    """Whether the Sent folder holds a mail with this Message-ID (False when unknowable)."""
    folder = _folder(mailbox)
    if folder is None:
        return False
    try:
        with _connector(mailbox) as imap:
            return imap.has_message_id(folder, message_id)
    except ConnectorError as exc:
        log.warning("mailbox %s: could not search %s: %s", mailbox.name, folder, exc)
        return False
