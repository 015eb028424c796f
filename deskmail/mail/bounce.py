"""Delivery-status notifications: which recipient failed, why, and which mail bounced."""

from __future__ import annotations

import re
from email.message import Message

from deskmail.mail.message import BounceInfo

_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status notification|failure|has failed)|returned mail|"
    r"failure notice|mail delivery failed|unzustellbar|non remis|nicht zugestellt",
    re.IGNORECASE,
)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_MESSAGE_ID = re.compile(r"^Message-ID:\s*<?([^<>\s]+)>?", re.IGNORECASE | re.MULTILINE)
_RECIPIENT = re.compile(r"<([^<>\s@]+@[^<>\s]+)>\s*:", re.MULTILINE)
# Where a text bounce's copy of the bounced mail starts: its addresses are not failures.
_COPY = re.compile(
    r"^(?:-*\s*Below this line is a copy of the message|-+\s*This is a copy of the message"
    r"|Original message headers:|-+\s*Original message\s*-*\s*$|(?:Return-Path|Received):\s)",
    re.IGNORECASE | re.MULTILINE,
)
# The sentence after which a text bounce lists its failed recipients (qmail, Exchange
# 2000-2003 "'addr' on <date>", Exchange 2007+ "Delivery has failed to ...", Postfix, Exim).
_LIST_FOLLOWS = re.compile(
    r"following recipient\(s\) (?:could|can) ?not be reached"
    r"|delivery has failed to these recipients"
    r"|could not be delivered to the following recipients?|wasn't able to deliver your message"
    r" to the following address|following address(?:es)? had permanent fatal errors"
    r"|following address\(es\) failed|die folgenden empfänger|folgende empfänger",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
MAX_RECIPIENTS = 100


def is_daemon_sender(address: str) -> bool:
    return bool(_DAEMON.match(address))


def _field(block: Message, name: str) -> str | None:
    value = block.get(name)
    if value is None:
        return None
    return " ".join(str(value).split())


def _from_report(report: Message, info: BounceInfo) -> None:
    """Read a message/delivery-status part (its payload is a list of field blocks)."""
    payload = report.get_payload()
    blocks = payload if isinstance(payload, list) else []
    # The per-message block has no recipient fields and is skipped below; it is
    # optional in practice, so the first block is read like the others.
    for block in blocks:
        if not isinstance(block, Message) or len(info.recipients) >= MAX_RECIPIENTS:
            continue
        action = (_field(block, "action") or "").lower()
        recipient = _field(block, "final-recipient") or _field(block, "original-recipient")
        if recipient is None:
            continue
        if action and action not in ("failed", "delayed"):
            continue
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        if address and address not in info.recipients:
            info.recipients.append(address)
        status = _field(block, "status")
        if status and info.status is None:
            info.status = status.split()[0]
        diagnostic = _field(block, "diagnostic-code")
        if diagnostic and info.diagnostic is None:
            info.diagnostic = diagnostic.split(";", 1)[-1].strip()
        if action == "delayed" or (status or "").startswith("4"):
            info.permanent = False


def bounce_info(msg: Message, from_address: str, subject: str, body_text: str) -> BounceInfo | None:
    """What failed, for a DSN (RFC 3464) or a bounce from a mailer daemon; None otherwise."""
    is_report = False
    if msg.get_content_type() == "multipart/report":
        report_type = msg.get_param("report-type")
        if isinstance(report_type, tuple):  # RFC 2231 form
            report_type = report_type[2]
        is_report = str(report_type or "").lower() == "delivery-status"
    if not is_report and not (is_daemon_sender(from_address) and _BOUNCE_SUBJECT.search(subject)):
        return None
    info = BounceInfo()
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            _from_report(part, info)
        elif ctype in ("message/rfc822", "message/global") and info.original_message_id is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                mid = inner[0].get("message-id")
                if mid:
                    info.original_message_id = "".join(str(mid).split()).strip("<>") or None
        elif ctype == "text/rfc822-headers" and info.original_message_id is None:
            text = part.get_payload(decode=True)
            text = text if isinstance(text, bytes) else b""
            found = _MESSAGE_ID.search(text.decode("utf-8", "replace"))
            if found:
                info.original_message_id = found.group(1)
    notice = body_text
    copy = _COPY.search(body_text)
    if copy is not None:
        notice = body_text[: copy.start()]
    if not info.recipients:
        info.recipients = _listed_recipients(notice, from_address)
    if info.status is None:
        found = _STATUS.search(notice) or _STATUS.search(body_text)
        if found:
            info.status = found.group(1)
            info.permanent = not found.group(1).startswith("4")
    if info.original_message_id is None:
        found = _MESSAGE_ID.search(body_text)
        if found:
            info.original_message_id = found.group(1)
    return info


def _listed_recipients(notice: str, from_address: str) -> list[str]:
    """The failed recipients a text bounce lists before its copy of the mail."""
    listed = _LIST_FOLLOWS.search(notice)
    if listed is not None:
        found = _ADDRESS.findall(notice[listed.end() :])
    else:
        found = _RECIPIENT.findall(notice)
    recipients: dict[str, None] = {}
    for address in found:
        address = address.strip("'\"<>").lower()
        if address and address != from_address and not is_daemon_sender(address):
            recipients[address] = None
    return list(recipients)[:MAX_RECIPIENTS]
