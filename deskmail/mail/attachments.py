"""Attachment payloads that need more than a transfer decoding: uuencode and TNEF."""

from __future__ import annotations

import binascii
import logging
import mimetypes
import re

_UU_BEGIN = re.compile(rb"^begin(?:-base64)?\s+[0-7]{3,4}\s+(.+?)\s*$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def uudecode(data: bytes) -> tuple[str | None, bytes]:
    """Decode uuencoded data, with or without its `begin`/`end` lines: (name, bytes)."""
    name: str | None = None
    lines = data.splitlines()
    for i, line in enumerate(lines):
        match = _UU_BEGIN.match(line)
        if match:
            name = match.group(1).decode("utf-8", "replace")
            lines = lines[i + 1 :]
            break
    out: list[bytes] = []
    for line in lines:
        stripped = line.rstrip(b"\r\n")
        if stripped.strip() == b"end":
            break
        if not stripped.strip():
            continue
        try:
            out.append(binascii.a2b_uu(stripped))
        except binascii.Error:
            # Trailing garbage after the counted bytes: decode only what the count says.
            count = (stripped[0] - 32) & 63
            try:
                out.append(binascii.a2b_uu(stripped[: (count * 4 + 5) // 3]))
            except binascii.Error:
                continue
    return name, b"".join(out)


_UU_START = re.compile(r"^begin [0-7]{3,4} (\S[^\n]*)\n", re.M)
_UU_END = re.compile(r"\n(?:`\n)?end[ \t]*$", re.M)


def split_uuencoded(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Take `begin 644 name` ... `end` blocks out of a plain-text body.

    Each block ends at the first `end` line after its `begin` line; once a `begin`
    has no `end` after it, no later one can, so the text is read once.
    """
    if "begin " not in text:
        return text, []
    found: list[tuple[str, bytes]] = []
    kept: list[str] = []
    position = 0
    while (start := _UU_START.search(text, position)) is not None:
        end = _UU_END.search(text, start.end() - 1)
        if end is None:
            break
        name, data = uudecode(text[start.start() : end.end()].encode("latin-1", "replace"))
        found.append((name or start.group(1), data))
        kept.append(text[position : start.start()])
        position = end.end()
    kept.append(text[position:])
    return "".join(kept), found


def safe_filename(name: str) -> str:
    """A filename without directories or control characters."""
    name = _UNSAFE.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "" if name in (".", "..") else name[:255]


def generated_filename(content_type: str, index: int, subject: str = "") -> str:
    """A sensible name for an attachment that came without one."""
    if content_type in ("message/rfc822", "message/global"):
        stem = safe_filename(subject).strip(". ")[:80]
        return f"{stem or 'Forwarded message'}.eml"
    if content_type in ("message/delivery-status", "message/global-delivery-status"):
        return "delivery-status.txt"
    if content_type == "text/rfc822-headers":
        return "original-headers.txt"
    if content_type == "text/calendar":
        return "invite.ics"
    extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
    return f"attachment-{index}{extension}"


class TnefContent:
    """What an Outlook winmail.dat holds: its files and, sometimes, the body."""

    def __init__(self) -> None:
        self.files: list[tuple[str, bytes]] = []
        self.body: str | None = None
        self.html: str | None = None


def unpack_tnef(data: bytes) -> TnefContent | None:
    """The files inside a TNEF blob, or None when it is not one we can read."""
    from tnefparse import TNEF

    logging.getLogger("tnefparse").setLevel(logging.ERROR)
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception:  # a damaged winmail.dat stays an opaque attachment
        return None
    content = TnefContent()
    for index, attachment in enumerate(tnef.attachments, 1):
        payload = attachment.data or b""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        try:
            name = attachment.long_filename() or attachment.name
        except Exception:
            name = None
        if isinstance(name, bytes):
            name = name.decode("cp1252", "replace")
        name = safe_filename(str(name or "").rstrip("\x00"))
        content.files.append((name or f"attachment-{index}.bin", payload))
    for value, attr in ((tnef.body, "body"), (tnef.htmlbody, "html")):
        if isinstance(value, bytes):
            value = value.decode("cp1252", "replace")
        if value:
            setattr(content, attr, value.rstrip("\x00"))
    return content
