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
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        if not isinstance(block, Message):
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
    is_report = (
        msg.get_content_type() == "multipart/report"
        and (msg.get_param("report-type") or "").lower() == "delivery-status"
    )
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
            text = part.get_payload(decode=True) or b""
            found = _MESSAGE_ID.search(text.decode("utf-8", "replace"))
            if found:
                info.original_message_id = found.group(1)
    if not info.recipients:
        info.recipients = [a.lower() for a in dict.fromkeys(_RECIPIENT.findall(body_text))]
    if info.status is None:
        found = _STATUS.search(body_text)
        if found:
            info.status = found.group(1)
            info.permanent = not found.group(1).startswith("4")
    if info.original_message_id is None:
        found = _MESSAGE_ID.search(body_text)
        if found:
            info.original_message_id = found.group(1)
    return info
