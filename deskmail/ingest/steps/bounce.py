"""File a bounce as a delivery-failure note on the ticket of the mail that bounced."""

from __future__ import annotations

import email
from email import policy
from email.message import Message as StdMessage

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict

name = "bounce"


def _is_report(ctx: Context) -> bool:
    content_type = (ctx.parsed.header("content-type") or "").lower()
    return "multipart/report" in content_type and "delivery-status" in content_type


def _original_id_from_report(raw: bytes) -> str | None:
    """The Message-ID inside a DSN's returned message or headers (RFC 3464)."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, StdMessage) and inner.get("message-id"):
                return str(inner["message-id"]).strip().strip("<>")
        elif kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            headers = email.message_from_bytes(payload, policy=policy.compat32)
            if headers.get("message-id"):
                return str(headers["message-id"]).strip().strip("<>")
    return None


def _summary(ctx: Context) -> str:
    info = ctx.parsed.bounce_info
    if info is None:
        return f"Delivery failed: {ctx.parsed.subject or 'bounce'} (from {ctx.sender})."
    parts = ["Delivery failed"]
    if info.recipients:
        parts.append(f"to {', '.join(info.recipients)}")
    if info.status:
        parts.append(f"(status {info.status})")
    text = " ".join(parts) + "."
    if info.diagnostic:
        text += f"\nThe server said: {info.diagnostic}"
    return text


def run(ctx: Context) -> Decision:
    if not (ctx.parsed.bounce or _is_report(ctx)):
        return Decision(name, Verdict.PASS, "not a bounce")
    ctx.bounce = True
    candidates: list[str] = []
    info = ctx.parsed.bounce_info
    if info is not None and info.original_message_id:
        candidates.append(info.original_message_id)
    else:
        found = _original_id_from_report(ctx.raw)
        if found:
            candidates.append(found)
    if ctx.parsed.in_reply_to:
        candidates.append(ctx.parsed.in_reply_to)
    candidates.extend(reversed(ctx.parsed.references))
    original = ctx.store.ticket_for_references(candidates) if candidates else None
    if original is None:
        ctx.stop(Outcome.EXCLUDED, "bounce of a mail we do not know")
        return Decision(name, Verdict.BOUNCE, "a bounce naming no stored message; kept, no ticket")
    candidate, ctx.ticket = original
    ctx.note = _summary(ctx)
    ctx.stop(Outcome.EXCLUDED, "bounce")
    return Decision(
        name,
        Verdict.BOUNCE,
        f"bounce of <{candidate}>: delivery-failure note on ticket #{ctx.ticket.number}",
        {"original": candidate},
    )
