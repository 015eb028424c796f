"""Set a new ticket's fields from the mail (`tickets.field_mappings`); restricted: default only."""

from __future__ import annotations

from typing import Any

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.mailboxes.config import FieldMapping

name = "mappings"

_IMPORTANCE = {"high": "high", "urgent": "urgent", "normal": "normal", "low": "low"}
_PRIORITY = {"urgent": "urgent", "normal": "normal", "non-urgent": "low"}


def importance(ctx: Context) -> str | None:
    """Importance (RFC 2156), X-Priority (1 highest .. 5 lowest) or Priority (RFC 2156)."""
    value = (ctx.parsed.header("importance") or "").strip().lower()
    if value in _IMPORTANCE:
        return _IMPORTANCE[value]
    value = (ctx.parsed.header("x-priority") or "").strip()
    if value[:1].isdigit():
        level = int(value[:1])
        return "high" if level <= 2 else "normal" if level == 3 else "low"
    value = (ctx.parsed.header("priority") or "").strip().lower()
    return _PRIORITY.get(value)


def source_value(ctx: Context, source: str) -> Any:
    parsed = ctx.parsed
    if source == "subject":
        return parsed.subject
    if source == "body":
        return parsed.reply_text or parsed.body_text
    if source == "sender":
        return parsed.from_address
    if source == "sender_name":
        return parsed.from_name
    if source == "importance":
        return importance(ctx)
    if source == "attachments":
        return [a.filename for a in parsed.attachments]
    if source.startswith("header:"):
        return parsed.header(source.partition(":")[2].strip())
    return None


def _value(ctx: Context, mapping: FieldMapping) -> Any:
    if mapping.restricted or not mapping.source:
        return mapping.default
    value = source_value(ctx, mapping.source)
    return mapping.default if value in (None, "", []) else value


def run(ctx: Context) -> Decision:
    config = ctx.settings.tickets
    ctx.attach_original = config.attach_original_email
    ticket = ctx.ticket
    if not ctx.new_ticket or ticket is None:
        return Decision(name, Verdict.SKIP, "fields are set when a ticket opens")
    applied: dict[str, Any] = {}
    for mapping in config.field_mappings:
        value = _value(ctx, mapping)
        if value is None:
            continue
        if mapping.field == "priority":
            if str(value) in ticket.Priority.values:
                ticket.priority = str(value)
                applied["priority"] = ticket.priority
        elif mapping.field in ("title", "subject"):
            ticket.title = str(value)[:1000]
            applied["title"] = ticket.title
        else:
            ticket.custom_fields[mapping.field] = value
            applied[mapping.field] = value
    if not applied:
        return Decision(name, Verdict.PASS, "no field mapping applied")
    shown = ", ".join(f"{k}={v!r}" for k, v in applied.items())
    return Decision(name, Verdict.MAPPED, shown, {"fields": applied})
