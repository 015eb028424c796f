"""Address lists as senders really write them, not only as RFC 5322 allows."""

from __future__ import annotations

import re

from deskmail.mail.headers import decode_header
from deskmail.mail.message import Address

_SPACES = re.compile(r"\s+")
_ROUTE = re.compile(r"^(@[^:]*:)")


_SIMPLE = re.compile(r'[,;:"(\\]')


def _split(value: str) -> list[str]:
    """Split on top-level commas (and group syntax), respecting quotes, comments and <>."""
    if not _SIMPLE.search(value):
        value = value.strip()
        return [value] if value else []
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    depth = 0  # comment nesting
    angle = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and (quoted or depth) and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if quoted:
            quoted = ch != '"'
        elif depth:
            depth += {"(": 1, ")": -1}.get(ch, 0)
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth = 1
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif not angle and ch in ",;":
            parts.append("".join(current))
            current = []
            i += 1
            continue
        elif not angle and ch == ":" and "@" not in "".join(current):
            current = []  # "group name:" introduces a group; the name is not an address
            i += 1
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def _take_comments(text: str) -> tuple[str, list[str]]:
    """Text without its (comments), and the comments' contents."""
    if "(" not in text:
        return text, []
    comments: list[str] = []
    out: list[str] = []
    depth = 0
    quoted = False
    buf: list[str] = []
    escaped = False
    for ch in text:
        if escaped:  # a quoted-pair: `\"` or `\(` inside quotes is text
            escaped = False
            (buf if depth else out).append(ch)
            continue
        if ch == "\\" and (quoted or depth):
            escaped = True
            (buf if depth else out).append(ch)
            continue
        if depth:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    comments.append("".join(buf).strip())
                    buf = []
                    continue
            buf.append(ch)
        elif ch == '"':
            quoted = not quoted
            out.append(ch)
        elif ch == "(" and not quoted:
            depth = 1
        else:
            out.append(ch)
    if buf:
        comments.append("".join(buf).strip())
    return "".join(out), [c for c in comments if c]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    elif text.startswith('"'):
        text = text[1:]
    return re.sub(r"\\(.)", r"\1", text.replace('"', "") if '\\"' not in text else text)


def _mailbox(text: str, defects: list[str] | None) -> Address | None:
    start = text.rfind("<")
    if start >= 0:
        stop = text.find(">", start)
        spec = text[start + 1 : stop if stop >= 0 else None]
        phrase, comments = _take_comments(text[:start] + (text[stop + 1 :] if stop >= 0 else ""))
        name = _unquote(phrase) or " ".join(comments)
    else:
        spec, comments = _take_comments(text)
        name = " ".join(comments)
    spec = _ROUTE.sub("", spec.strip())
    spec = decode_header(spec, defects)
    spec = _SPACES.sub(" ", spec).strip().strip("<>").strip()
    if spec.count('"') == 2 and spec.startswith('"'):
        local, _, domain = spec.rpartition("@")
        spec = f"{local.strip(chr(34))}@{domain}" if domain else spec
    name = _SPACES.sub(" ", decode_header(name, defects)).strip()
    if not spec and not name:
        return None
    if "@" not in spec and start < 0:
        # A bare word without "@" is a name that lost its address.
        return Address(address="", name=_unquote(spec)) if spec else None
    return Address(address=spec.lower(), name=name)


def parse_addresses(values: list[str], defects: list[str] | None = None) -> list[Address]:
    """Every mailbox in the given raw header values, addresses lower-cased.

    `addr (Name)` takes the comment as the name; in `a@x <b@y>` the address is
    b@y (a@x is only the name); an unquoted `Doe, John <j@x>` stays one mailbox.
    """
    found: list[Address] = []
    for value in values:
        parts = _split(value)
        merged: list[str] = []
        for part in parts:
            # "Doe, John <j@x>": a piece with no address belongs to the next one.
            if merged and "@" not in merged[-1] and "<" not in merged[-1]:
                merged[-1] = f"{merged[-1]}, {part}"
            else:
                merged.append(part)
        for part in merged:
            address = _mailbox(part, defects)
            if address is not None and address.address:
                found.append(address)
    return found
