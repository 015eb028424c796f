"""Header text: lenient RFC 2047 decoding, 8-bit headers and broken header blocks."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from deskmail.mail.charsets import codec_for, decode_text
from deskmail.mail.mime import ESSENTIAL, MAX_FIELDS


class _Word:
    __slots__ = ("start", "end", "charset", "kind", "text")

    def __init__(self, start: int, end: int, charset: str, kind: str, text: str) -> None:
        self.start, self.end, self.charset, self.kind, self.text = start, end, charset, kind, text


def _encoded_words(value: str) -> Iterator[_Word]:
    """The encoded words in `value`: `=?charset?Q|B?text?=`, found in linear time.

    Lenient on purpose: the encoded text may contain "?" (seen in forged local
    parts) and the word may touch the surrounding text. A regular expression
    with a lazy `.*?` would rescan the rest of the header for every "=?" that
    never closes; here the next "?=" is searched once and remembered.
    """
    position = 0
    close = -1
    while True:
        start = value.find("=?", position)
        if start < 0:
            return
        mark = value.find("?", start + 2)
        if mark < 0:
            return
        charset = value[start + 2 : mark]
        kind = value[mark + 1 : mark + 2]
        if (
            kind not in ("Q", "q", "B", "b")
            or value[mark + 2 : mark + 3] != "?"
            or any(c.isspace() for c in charset)
        ):
            position = start + 2
            continue
        text_start = mark + 3
        if close < text_start:
            close = value.find("?=", text_start)
            if close < 0:
                return
        yield _Word(start, close + 2, charset, kind.upper(), value[text_start:close])
        position = close + 2


_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES = re.compile(r"[\r\n]+")


def _decode_q(text: str) -> bytes:
    data = text.replace("_", " ").encode("ascii", "surrogateescape")
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def _decode_b(text: str) -> bytes:
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4 if len(cleaned) % 4 == 1 else None]
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError):
        return b""


def _raw_text(value: str, defects: list[str] | None) -> str:
    """Plain header text; 8-bit bytes (kept as surrogates) are decoded as UTF-8 or detected."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value
    if defects is not None:
        defects.append("8-bit bytes in a header")
    return decode_text(data, None, defects, header=True)


def decode_header(value: str, defects: list[str] | None = None) -> str:
    """Unfold a raw header value and decode its encoded words, forgiving malformed ones.

    Adjacent encoded words in the same charset are joined before decoding, so a
    multibyte character split across two words survives; whitespace between
    encoded words is dropped (RFC 2047 section 6.2).
    """
    if "\n" in value or "\r" in value:
        value = _NEWLINES.sub("", _FOLD.sub("", value))
    if "=?" not in value:
        return _raw_text(value, defects)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    last_end = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_text(b"".join(pending), pending_charset, defects))
        pending, pending_charset = [], None

    for word in _encoded_words(value):
        gap = value[last_end : word.start]
        charset = word.charset.split("*", 1)[0]  # RFC 2231 language suffix
        if gap and not (pending and gap.isspace()):
            flush()
            out.append(_raw_text(gap, defects))
        elif pending and (
            codec_for(charset) != codec_for(pending_charset)
            or (codec_for(charset) or "").startswith(("utf-16", "utf-32"))
        ):
            flush()  # UTF-16/32 words each start with their own byte order mark
        pending.append(_decode_q(word.text) if word.kind == "Q" else _decode_b(word.text))
        pending_charset = charset
        last_end = word.end
    flush()
    out.append(_raw_text(value[last_end:], defects))
    return "".join(out)


_HEADER_START = re.compile(rb"[!-9;-~]+[ \t]*:")
_BAD_LINE = re.compile(rb"^(?![ \t]|[!-9;-~]+[ \t]*:|\r?$)", re.MULTILINE)


def header_block_end(raw: bytes, start: int = 0) -> int:
    """Offset just past the blank line that ends the header block, or len(raw)."""
    lf = raw.find(b"\n\n", start)
    crlf = raw.find(b"\n\r\n", start)
    ends = [i for i in (lf, crlf) if i >= 0]
    if not ends:
        return len(raw)
    end = min(ends)
    return end + (2 if end == lf else 3)


def repair_header_block(raw: bytes, defects: list[str]) -> bytes:
    """Make a broken header block parseable; return `raw` itself when it is fine."""
    repaired = repaired_header_block(raw, defects)
    if repaired is None:
        return raw
    block, body = repaired
    return b"".join((block, memoryview(raw)[body:]))


_LINE = re.compile(rb"[^\n]*\n|[^\n]+")


def repaired_header_block(raw: bytes, defects: list[str]) -> tuple[bytes, int] | None:
    """The header block of `raw` made parseable (ending in a blank line) and where
    the body starts in `raw`; None when the block is fine as it is.

    Blank lines and lines that are not headers before the first header are
    dropped, and later lines that are neither headers nor folded (the leading
    whitespace was lost) become continuation lines of the header above. Only
    the header block is copied, never the body.
    """
    start = 0
    if raw[:1] in (b"\r", b"\n"):
        first = len(raw) - len(raw.lstrip(b"\r\n"))
        if _HEADER_START.match(raw, first):
            defects.append("removed blank lines before the headers")
            start = first
    end = header_block_end(raw, start)
    stop = end
    while stop > start and raw[stop - 1] in (0x0A, 0x0D):
        stop -= 1
    if _BAD_LINE.search(raw, start, stop) is None:
        return None if start == 0 else (raw[start:end], end)
    fixed = bytearray()
    dropped = folded = skipped = fields = 0
    keep = True
    for match in _LINE.finditer(raw, start, stop):
        line = match.group(0).rstrip(b"\r\n")
        if match.start() == start and line.startswith(b"From "):
            defects.append("removed the mbox 'From ' line")
            continue
        if _HEADER_START.match(line):
            fields += 1
            name = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
            # Past the cap, only the fields a parser reads (mime.py caps the same way).
            keep = fields <= MAX_FIELDS or name in ESSENTIAL
            if keep:
                fixed += (b"\r\n" if fixed else b"") + line
            else:
                skipped += 1
        elif line[:1] in (b" ", b"\t"):
            if fixed and keep:
                fixed += b"\r\n" + line
            elif not fixed:
                dropped += 1
        elif not fixed:
            dropped += 1
        elif keep:
            fixed += b"\r\n " + line
            folded += 1
    if dropped:
        defects.append(f"dropped {dropped} line(s) before the first header")
    if folded:
        defects.append(f"re-folded {folded} header line(s) that lacked leading whitespace")
    if skipped:
        defects.append(f"{skipped:,} header fields past the first {MAX_FIELDS:,} skipped")
    fixed += b"\r\n\r\n"
    block = bytes(fixed)
    del fixed
    return block, end
