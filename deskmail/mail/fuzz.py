"""Fuzz the parser with mutated real mail: no exception, no emptied message.

    python -m deskmail.mail.fuzz --minutes 5 [--seed 1] [--corpus DIR ...]

Each example takes a seed mail (the test fixtures, plus any `--corpus` folder of
`.eml` files), applies a few byte-level mutations (MIME noise inserted, bytes
deleted or flipped, the tail cut off) and parses the result. It fails when
parsing raises, when a stage of the parser failed internally (a defect saying
so), when the result holds text that cannot be written as UTF-8, or when the
message was *emptied*: its From, Subject and Message-ID header fields came
through the mutation intact but did not come out of the parser.

The test suite runs the same check on a bounded, derandomised number of
examples (test_any_input.py); this runner is for longer runs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from deskmail.mail.message import ParsedMessage
from deskmail.mail.parser import parse_bytes

FIXTURES = Path(__file__).parent / "tests" / "fixtures"

MIME_NOISE = [
    b"\r\n",
    b"\n\n",
    b"--",
    b"=?utf-8?B?",
    b"=?",
    b"?=",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"begin 644 a\r\n",
    b"charset=\xff\xfe",
    b"charset=zlib",
    b"charset=iso-2022-jp",
    b"\x1b$B",
    b"\x00",
    b"\xc3",
    b"<",
    b">",
    b'"',
    b"(",
    b"\t",
    b"From: ",
    b"--x\r\n",
    b"--x--\r\n",
    b"filename*0*=utf-8''%ZZ",
    b"<html><script>",
    b"<div><font color=red><p>",
    b"<img src=https://t.example/p.gif>",
    b"> ",
]
_INTERNAL = re.compile(r"internal error|unreadable message")
_PROTECTED = (b"from", b"subject", b"message-id")
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")


def seeds(extra: list[Path] | None = None) -> list[bytes]:
    """The seed mails: the fixtures, and every .eml file under the given folders."""
    paths = sorted(FIXTURES.glob("*.eml"))
    for folder in extra or []:
        paths += sorted(folder.rglob("*.eml"))
    return [p.read_bytes() for p in paths]


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """Up to eight byte-level mutations of `raw`."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        position = rng.randint(0, len(data))
        action = rng.choice(["insert", "insert", "delete", "flip", "truncate"])
        if action == "insert":
            data[position:position] = rng.choice(MIME_NOISE)
        elif action == "delete":
            del data[position : position + rng.randint(1, 64)]
        elif action == "flip" and position < len(data):
            data[position] = rng.randint(0, 255)
        elif action == "truncate" and rng.random() < 0.5:
            del data[position:]
    return bytes(data)


def _header_block(raw: bytes) -> bytes:
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    return raw[: min(ends) + 1] if ends else raw


def protected_fields(raw: bytes) -> dict[bytes, bytes] | None:
    """The From, Subject and Message-ID fields of the header block, each with its
    folded lines and line break; None unless each occurs exactly once."""
    fields: dict[bytes, bytes] = {}
    lines = _header_block(raw).splitlines(keepends=True)
    for i, line in enumerate(lines):
        name = line.split(b":", 1)[0].strip().lower() if b":" in line else b""
        if name not in _PROTECTED or line[:1] in (b" ", b"\t"):
            continue
        if name in fields:
            return None
        end = i + 1
        while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
            end += 1
        fields[name] = b"".join(lines[i:end])
    return fields if len(fields) == len(_PROTECTED) else None


def intact(original: dict[bytes, bytes], mutated: bytes) -> bool:
    """Whether each protected field is in the mutated header block unchanged, once,
    and followed by a header line or the end of the block (not by a line that the
    parser would read as a lost continuation of it)."""
    block = _header_block(mutated)
    if protected_fields(mutated) is None:
        return False
    for text in original.values():
        at = block.find(text)
        if at < 0 or (at > 0 and block[at - 1 : at] != b"\n"):
            return False
        rest = block[at + len(text) :]
        if rest.strip() and not _HEADER_LINE.match(rest):
            return False
    return True


def _recovered(expected: str | None, got: str | None, raw_field: bytes) -> bool:
    if expected == got:
        return True
    # Undeclared 8-bit text is read by detection, which other headers can sway.
    eight_bit = not raw_field.isascii()
    try:
        raw_field.decode("utf-8")
    except UnicodeDecodeError:
        return eight_bit and bool(got)
    return False


@dataclass
class Outcome:
    examples: int = 0
    exceptions: int = 0
    emptied: int = 0
    checked: int = 0  # examples whose protected fields came through intact
    failures: list[str] = field(default_factory=list)


def problems(
    original: ParsedMessage, fields: dict[bytes, bytes] | None, mutated: bytes
) -> tuple[list[str], list[str]]:
    """(exceptions, emptied): what went wrong parsing `mutated`, as sentences."""
    try:
        message = parse_bytes(mutated)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a panic in a native extension is a BaseException
        return [traceback.format_exc(limit=3)], []
    errors = [d for d in message.defects if _INTERNAL.search(d)]
    try:
        json.dumps(message.to_json(), ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError) as exc:
        errors.append(f"output is not UTF-8 JSON: {exc}")
    emptied: list[str] = []
    if fields is not None and intact(fields, mutated):
        for name, expected, got in (
            (b"from", original.from_address, message.from_address),
            (b"subject", original.subject, message.subject),
            (b"message-id", original.message_id, message.message_id),
        ):
            if not _recovered(expected, got, fields[name]):
                emptied.append(f"{name.decode()} {expected!r} came out as {got!r}")
    return errors, emptied


def run(
    minutes: float,
    seed: int,
    corpus: list[Path],
    limit: int | None = None,
    save: Path | None = None,
) -> Outcome:
    rng = random.Random(seed)
    pool = [(raw, parse_bytes(raw), protected_fields(raw)) for raw in seeds(corpus)]
    outcome = Outcome()
    stop = time.monotonic() + minutes * 60
    while time.monotonic() < stop and (limit is None or outcome.examples < limit):
        raw, parsed, fields = rng.choice(pool)
        mutated = mutate(raw, rng)
        errors, emptied = problems(parsed, fields, mutated)
        outcome.examples += 1
        outcome.checked += fields is not None and intact(fields, mutated)
        outcome.exceptions += bool(errors)
        outcome.emptied += bool(emptied)
        if (errors or emptied) and len(outcome.failures) < 20:
            outcome.failures.append(f"{errors + emptied}\n{mutated[:2000]!r}")
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"failure-{outcome.examples}.eml").write_bytes(mutated)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deskmail.mail.fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=None, help="stop after this many")
    parser.add_argument("--corpus", type=Path, action="append", default=[], help="more seeds")
    parser.add_argument("--save", type=Path, help="write failing inputs to this folder")
    args = parser.parse_args(argv)
    outcome = run(args.minutes, args.seed, args.corpus, args.examples, args.save)
    for failure in outcome.failures:
        print(failure, file=sys.stderr)
    print(
        f"fuzz: {outcome.examples:,} examples ({outcome.checked:,} with From, Subject and"
        f" Message-ID intact), {outcome.exceptions} exceptions, {outcome.emptied} emptied"
    )
    return 1 if outcome.exceptions or outcome.emptied else 0


if __name__ == "__main__":
    raise SystemExit(main())
