"""Turn raw RFC 5322 bytes into a `ParsedMessage`; never raises on input."""

from __future__ import annotations

import email
import email.utils
from email import policy
from email.message import EmailMessage

from deskmail.mail.message import Address, Attachment, ParsedMessage


def _strip_brackets(value: str | None) -> str | None:
    if not value:
        return None
    value = "".join(value.split()).strip("<>")
    return value or None


def _addresses(values: list[str]) -> list[Address]:
    return [
        Address(address=addr.lower(), name=name)
        for name, addr in email.utils.getaddresses(values)
        if addr
    ]


def parse_bytes(raw: bytes, *, end_marker: str | None = None) -> ParsedMessage:
    """Parse one message. Any bytes in, a result out."""
    result = ParsedMessage()
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        for name, value in msg.items():
            result.headers.setdefault(name.lower(), []).append(str(value))
        sender = _addresses([str(v) for v in msg.get_all("from", [])])
        if sender:
            result.from_address, result.from_name = sender[0].address, sender[0].name
        result.to = _addresses([str(v) for v in msg.get_all("to", [])])
        result.cc = _addresses([str(v) for v in msg.get_all("cc", [])])
        result.subject = str(msg.get("subject", ""))
        result.message_id = _strip_brackets(str(msg.get("message-id", "")))
        result.in_reply_to = _strip_brackets(str(msg.get("in-reply-to", "")))
        result.references = [r.strip("<>") for r in str(msg.get("references", "")).split()]
        body = msg.get_body(("plain",))
        if body is not None:
            result.body_text = body.get_content()
        html = msg.get_body(("html",))
        if html is not None:
            result.body_html = html.get_content()
        for part in msg.iter_attachments():
            data = part.get_payload(decode=True) or b""
            result.attachments.append(
                Attachment(
                    filename=part.get_filename() or "attachment",
                    content_type=part.get_content_type(),
                    size=len(data),
                    data=data,
                )
            )
        result.reply_text = result.body_text
    except Exception as exc:  # noqa: BLE001 - any bytes in, a result out
        result.defects.append(f"parse error: {exc}")
    return result
