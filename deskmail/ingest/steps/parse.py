"""Parse the raw bytes; give a mail without a Message-ID a stable one from its SHA-256."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.mail import parse_bytes

name = "parse"

SYNTHETIC_DOMAIN = "deskmail.invalid"


def synthetic_message_id(sha256: str) -> str:
    """The same bytes always get the same ID, so a re-delivery is still a duplicate."""
    return f"sha256-{sha256}@{SYNTHETIC_DOMAIN}"


def run(ctx: Context) -> Decision:
    marker = ctx.settings.replies.end_of_message_marker
    ctx.parsed = parse_bytes(ctx.raw, end_marker=marker)
    data = {"sha256": ctx.sha256, "size": len(ctx.raw)}
    if ctx.parsed.defects:
        data["defects"] = ctx.parsed.defects[:10]
    if ctx.parsed.message_id:
        ctx.message_id = ctx.parsed.message_id
        return Decision(name, "pass", f"Message-ID <{ctx.message_id}>", data)
    ctx.message_id = synthetic_message_id(ctx.sha256)
    ctx.synthetic_message_id = True
    return Decision(
        name, "synthetic", f"no Message-ID; using <{ctx.message_id}> from the content", data
    )
