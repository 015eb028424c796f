"""Build the bytes of one outgoing mail: headers, multipart/alternative body, attachments.

Pure: no database, no network. `deskmail.outbound.queue` decides what goes in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"OutgoingAttachment({self.filename!r}, {self.content_type!r}, {len(self.data)} B)"


@dataclass
class Draft:
    from_address: str
    subject: str
    message_id: str  # without angle brackets
    html: str
    text: str
    loop_address: str  # X-Loop: the sending mailbox's address
    from_name: str = ""
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    # Automatic mail (acknowledgements) says so, so that responders do not answer it.
    automatic: bool = False
    attachments: list[OutgoingAttachment] = field(default_factory=list)
    date: dt.datetime | None = None


def _ids(values: list[str]) -> str:
    return " ".join(f"<{value}>" for value in values)


def build(draft: Draft) -> bytes:
    """The RFC 5322 message, CRLF line endings, ready for SMTP and IMAP APPEND."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=draft.from_name, addr_spec=draft.from_address)
    if draft.to:
        msg["To"] = ", ".join(draft.to)
    if draft.cc:
        msg["Cc"] = ", ".join(draft.cc)
    if draft.reply_to:
        msg["Reply-To"] = draft.reply_to
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime(draft.date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = f"<{draft.message_id}>"
    if draft.in_reply_to:
        msg["In-Reply-To"] = f"<{draft.in_reply_to}>"
    if draft.references:
        msg["References"] = _ids(draft.references)
    if draft.automatic:
        # RFC 3834, plus what Exchange and older responders look for.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Precedence"] = "auto_reply"
    msg["X-Loop"] = draft.loop_address
    msg.set_content(draft.text or " ", subtype="plain", cte="quoted-printable")
    msg.add_alternative(draft.html, subtype="html", cte="quoted-printable")
    for item in draft.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(
            item.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return msg.as_bytes()
