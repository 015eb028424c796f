"""Parse the raw bytes; give a mail without a Message-ID a stable one from its SHA-256."""

from __future__ import annotations

from deskmail.ingest import parsing
from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import NotAnEmail, Verdict
from deskmail.mail.detect import first_bytes, not_an_email
from deskmail.mail.identity import synthetic_message_id

name = "parse"


def run(ctx: Context) -> Decision:
    why = not_an_email(ctx.raw)
    if why is not None:
        raise NotAnEmail(f"not an email: {why} (it starts with: {first_bytes(ctx.raw)})")
    if ctx.parsed_in_advance is not None:
        ctx.parsed = ctx.parsed_in_advance
    else:
        ctx.parsed = parsing.parse(ctx.raw, ctx.settings.replies.end_of_message_marker)
    data: dict[str, object] = {"sha256": ctx.sha256, "size": len(ctx.raw)}
    if ctx.parsed.defects:
        data["defects"] = ctx.parsed.defects[:10]
    if ctx.parsed.message_id:
        ctx.message_id = ctx.parsed.message_id
        return Decision(name, Verdict.PASS, f"Message-ID <{ctx.message_id}>", data)
    ctx.message_id = synthetic_message_id(ctx.sha256)
    ctx.synthetic_message_id = True
    return Decision(
        name, Verdict.SYNTHETIC, f"no Message-ID; using <{ctx.message_id}> from the content", data
    )
