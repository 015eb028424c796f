"""`deskmail parse FILE [--json]`: print one message, normalised."""

from __future__ import annotations

import argparse
import json
import sys

from deskmail.mail.parser import parse_bytes


def parse_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="deskmail parse", description=__doc__)
    parser.add_argument("file", help="an .eml file, or - for standard input")
    parser.add_argument("--json", action="store_true", help="print the JSON contract")
    args = parser.parse_args(argv)
    if args.file == "-":
        raw = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as handle:
            raw = handle.read()
    message = parse_bytes(raw)
    if args.json:
        json.dump(message.to_json(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"From:    {message.from_name} <{message.from_address}>")
    print(f"To:      {', '.join(a.formatted() for a in message.to)}")
    print(f"Subject: {message.subject}")
    print(f"Date:    {message.date.isoformat() if message.date else '-'}")
    print()
    print(message.reply_text or message.body_text)
    return 0
