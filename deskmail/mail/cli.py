"""`deskmail parse FILE [--json]`: print one message, normalised (FILE `-` reads stdin)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from deskmail.mail.message import Address, ParsedMessage
from deskmail.mail.parser import parse_bytes, parse_file


def _summary(message: ParsedMessage) -> str:
    def people(addresses: list[Address]) -> str:
        return ", ".join(a.formatted() for a in addresses) or "-"

    sender = f"{message.from_name} <{message.from_address}>" if message.from_name else None
    lines = [
        f"From:     {sender or message.from_address or '-'}",
        f"To:       {people(message.to)}",
    ]
    if message.cc:
        lines.append(f"Cc:       {people(message.cc)}")
    lines += [
        f"Subject:  {message.subject or '-'}",
        f"Date:     {message.date.isoformat() if message.date else '-'}",
        f"Message:  {message.message_id or '-'}",
    ]
    if message.in_reply_to:
        lines.append(f"Reply to: {message.in_reply_to}")
    if message.auto_submitted:
        lines.append(f"Automatic: {message.auto_submitted_reason}")
    if message.bounce_info is not None:
        info = message.bounce_info
        failed = ", ".join(info.recipients) or "unknown recipient"
        lines.append(f"Bounce:   {failed} ({info.status or 'no status'}: {info.diagnostic or '-'})")
    for attachment in message.attachments:
        inline = ", inline" if attachment.inline else ""
        lines.append(
            f"Attached: {attachment.filename} ({attachment.content_type}, "
            f"{attachment.size:,} bytes{inline})"
        )
    html = "text and HTML" if message.body_html else "text only"
    lines += ["", f"--- reply ({html}) ---", message.reply_text or message.body_text]
    if message.defects:
        lines += ["", "--- repaired ---", *(f"- {d}" for d in message.defects)]
    return "\n".join(lines)


def parse_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="deskmail parse", description=__doc__)
    parser.add_argument("file", help="an .eml file, or - for standard input")
    parser.add_argument("--json", action="store_true", help="print the JSON contract")
    parser.add_argument("--end-marker", help="cut reply_text at this line")
    parser.add_argument("--sink-dir", help="write attachments to files in this folder")
    args = parser.parse_args(argv)
    if args.file == "-":
        message = parse_bytes(
            sys.stdin.buffer.read(), end_marker=args.end_marker, sink_dir=args.sink_dir
        )
    else:
        try:
            message = parse_file(args.file, end_marker=args.end_marker, sink_dir=args.sink_dir)
        except OSError as exc:
            print(f"deskmail parse: {exc}", file=sys.stderr)
            return 2
    try:
        # UTF-8 bytes whatever the locale says: the JSON is read by programs.
        if args.json:
            text = json.dumps(message.to_json(), ensure_ascii=False, indent=2) + "\n"
        else:
            text = _summary(message) + "\n"
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8", "replace"))
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # `deskmail parse x.eml | head` is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
