"""Bytes to text when the declared charset is missing, misspelt or wrong."""

from __future__ import annotations

import codecs
from functools import lru_cache

# Labels seen in real mail that Python does not know, or knows by a narrower
# table than the sender used (the WHATWG encoding standard makes the same swaps).
_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "x-windows-949": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "x-user-defined": "cp1252",
    "windows-874": "cp874",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
# Labels that carry no information: decode as if none was given.
_MEANINGLESS = {"unknown-8bit", "unknown", "x-unknown", "default", "charset", "none", ""}


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown or meaningless."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _MEANINGLESS:
        return None
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):  # unknown, or not even a name (NUL bytes)
        return None


# The charsets undeclared mail is actually written in; limiting detection to them
# keeps short texts from being read as some rare code page.
_LIKELY = [
    "utf_8", "cp1252", "cp1250", "iso8859_2", "cp1251", "koi8_r", "cp1253",
    "cp1254", "cp1255", "cp1256", "cp1257", "cp874", "gb18030", "big5", "cp932", "euc_jp",
    "iso2022_jp", "cp949",
]  # fmt: skip


def detect(data: bytes) -> str | None:
    """The most plausible codec for undeclared text, by charset-normalizer."""
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_LIKELY).best()
    return best.encoding if best is not None else None


def decode_text(data: bytes, declared: str | None = None, defects: list[str] | None = None) -> str:
    """Decode body or header bytes: UTF-8 when they are valid UTF-8, else the declared
    charset, else detection. Never raises: the last resort replaces bad bytes.

    Valid UTF-8 wins over a declared single-byte charset because mislabelled UTF-8
    is common and non-ASCII text in another charset is almost never valid UTF-8.
    """
    codec = codec_for(declared)
    if data.isascii() and (codec is None or not _stateful(codec)):
        return data.decode("ascii")
    if codec is None or not (codec in _WIDE or _stateful(codec)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if defects is not None and codec not in (None, "utf-8"):
                defects.append(f"charset {declared!r} did not fit, decoded as UTF-8")
            return text
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    guess = detect(data)
    if guess:
        try:
            text = data.decode(guess)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            if defects is not None:
                what = f"charset {declared!r} did not fit" if declared else "no charset declared"
                defects.append(f"{what}, detected {guess}")
            return text
    if defects is not None:
        defects.append(f"undecodable text (charset {declared!r}), replaced bad bytes")
    return data.decode(codec or "utf-8", errors="replace")


# Charsets in which the same bytes can also be valid UTF-8 by accident.
_WIDE = {"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}


def _stateful(codec: str) -> bool:
    """Codecs whose pure-ASCII input can still mean something else (ISO-2022, UTF-7)."""
    return codec.startswith(("iso2022", "utf_7", "hz"))
