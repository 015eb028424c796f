"""The parsed, normalised form of one email: what the parser returns and the pipeline reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Address:
    address: str  # lower-cased addr-spec, "" when none could be found
    name: str = ""

    def formatted(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    inline: bool = False
    content_id: str | None = None
    # The decoded bytes, unless the parser was given a sink (then `path` names the file).
    data: bytes | None = None
    path: str | None = None
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "inline": self.inline,
            "content_id": self.content_id,
        }


@dataclass(slots=True)
class BounceInfo:
    """What a delivery-status notification says failed."""

    recipients: list[str] = field(default_factory=list)
    status: str | None = None  # e.g. "5.1.1"
    diagnostic: str | None = None  # the remote server's words
    original_message_id: str | None = None  # Message-ID of the mail that bounced
    permanent: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "recipients": list(self.recipients),
            "status": self.status,
            "diagnostic": self.diagnostic,
            "original_message_id": self.original_message_id,
            "permanent": self.permanent,
        }


@dataclass(slots=True)
class ParsedMessage:
    from_address: str = ""
    from_name: str = ""
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    subject: str = ""
    message_id: str | None = None  # without angle brackets
    in_reply_to: str | None = None  # without angle brackets
    references: list[str] = field(default_factory=list)  # oldest first, no brackets
    date: dt.datetime | None = None  # timezone-aware
    body_text: str = ""
    body_html: str | None = None  # sanitised
    reply_text: str = ""  # the new part of a reply: quotes and signature removed
    attachments: list[Attachment] = field(default_factory=list)
    auto_submitted: bool = False
    auto_submitted_reason: str | None = None  # e.g. "Auto-Submitted: auto-replied"
    # The sender asked for no automatic answer (X-Auto-Response-Suppress: All, AutoReply
    # or OOF): do not auto-acknowledge. It does not make the mail automatic itself.
    suppress_auto_reply: bool = False
    bounce: bool = False
    bounce_info: BounceInfo | None = None
    # Lower-cased header names to their decoded values, in order, for rules that read
    # headers (X-Loop, Importance, List-Id, header filters).
    headers: dict[str, list[str]] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def to_json(self) -> dict[str, Any]:
        """The `deskmail parse --json` contract."""
        return {
            "from_address": self.from_address,
            "from_name": self.from_name,
            "to": [a.address for a in self.to],
            "cc": [a.address for a in self.cc],
            "subject": self.subject,
            "message_id": self.message_id or "",
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "date": self.date.isoformat() if self.date else None,
            "body_text": self.body_text,
            "body_html": self.body_html,
            "reply_text": self.reply_text,
            "attachments": [a.to_json() for a in self.attachments],
            "auto_submitted": self.auto_submitted,
            "auto_submitted_reason": self.auto_submitted_reason,
            "suppress_auto_reply": self.suppress_auto_reply,
            "bounce": self.bounce,
            "bounce_info": self.bounce_info.to_json() if self.bounce_info else None,
            "defects": list(self.defects),
        }
