"""Exclude auto-replies (Auto-Submitted and friends, or a subject keyword) when so configured."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, Verdict

name = "autoreply"


def _header_reason(ctx: Context) -> str | None:
    """RFC 3834 Auto-Submitted, and the older headers vacation responders still send."""
    parsed = ctx.parsed
    if parsed.auto_submitted:
        return parsed.auto_submitted_reason or "marked auto-submitted"
    value = (parsed.header("auto-submitted") or "").strip().lower()
    if value and value != "no":
        return f"Auto-Submitted: {value}"
    for header in ("x-autoreply", "x-autorespond"):
        if parsed.header(header):
            return f"{header} present"
    precedence = (parsed.header("precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    return None


def run(ctx: Context) -> Decision:
    reason = _header_reason(ctx)
    if reason is None:
        subject = ctx.parsed.subject.casefold()
        for keyword in ctx.settings.filters.auto_reply_keywords:
            if keyword and keyword.casefold() in subject:
                reason = f"subject contains {keyword!r}"
                break
    if reason is None:
        return Decision(name, Verdict.PASS, "not an auto-reply")
    ctx.auto_reply = True
    if not ctx.settings.filters.exclude_auto_replies:
        return Decision(name, Verdict.KEPT, f"auto-reply ({reason}); exclude_auto_replies is off")
    ctx.stop(Outcome.EXCLUDED, f"auto-reply: {reason}")
    return Decision(name, Verdict.EXCLUDED, f"auto-reply: {reason}")
