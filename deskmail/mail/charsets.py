"""Bytes to text when the declared charset is missing, misspelt, wrong or not a charset.

Whatever the label says, decoding never raises: declared charset, then detection,
then Windows-1252 (what "Latin-1" means on the web) with replacement characters.
Only labels naming a real text encoding are looked up at all: `zlib`, `base64`,
`rot13`, `idna`, `unicode_escape` and the like are treated as unknown, and
arbitrary labels never reach `codecs.lookup` (whose import attempts and
negative cache would grow with every new name a sender makes up).
"""

from __future__ import annotations

import codecs
import encodings
import encodings.aliases
import pkgutil
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from functools import lru_cache

# Decoded by decode_iso2022jp() below, not by Python's stricter codec.
ISO2022JP = "iso2022_jp"
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
    "iso-2022-jp": ISO2022JP,
    "csiso2022jp": ISO2022JP,
    "iso2022_jp_ext": ISO2022JP,
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
# Labels that carry no information: decode as if none was given.
_MEANINGLESS = {"unknown-8bit", "unknown", "x-unknown", "default", "charset", "none", ""}
# Text codecs that are not charsets: they interpret escapes or host names, or always fail.
_NOT_CHARSETS = {
    "idna", "punycode", "unicode_escape", "raw_unicode_escape", "undefined",
    "unicode_internal", "mbcs", "oem", "charmap",
}  # fmt: skip
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:()+-]{0,39}")


def _normalise(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _known_names() -> frozenset[str]:
    names = {_normalise(m.name) for m in pkgutil.iter_modules(encodings.__path__)}
    for alias, module in encodings.aliases.aliases.items():
        names.add(_normalise(alias))
        names.add(_normalise(module))
    return frozenset(names)


_KNOWN = _known_names()


@lru_cache(maxsize=512)
def _lookup(label: str) -> str | None:
    if _normalise(label) not in _KNOWN:
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or _normalise(info.name) in _NOT_CHARSETS:
        return None
    if info.name in (ISO2022JP, "iso2022_jp_ext"):
        return ISO2022JP
    return info.name


def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown, meaningless
    or not a text charset at all."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _MEANINGLESS or not _LABEL.fullmatch(label):
        return None
    return _lookup(_ALIASES.get(label, label))


# -- ISO-2022-JP as the web decodes it -------------------------------------------------


@lru_cache(maxsize=1)
def _jis0208() -> list[str]:
    """JIS X 0208 rows 1-94 through Windows-31J (cp932), as the WHATWG index does:
    NEC row 13 (circled digits, roman numerals) and the NEC-selected IBM rows included."""
    table = []
    for j1 in range(0x21, 0x7F):
        for j2 in range(0x21, 0x7F):
            s1 = (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0)
            s2 = j2 + (0x1F + (j2 >= 0x60) if j1 % 2 else 0x7E)
            table.append(bytes((s1, s2)).decode("cp932", "replace"))
    return table


_ISO2022JP_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B)")


def decode_iso2022jp(data: bytes, errors: str = "strict") -> str:
    """ISO-2022-JP by the WHATWG Encoding Standard: JIS X 0208 with Microsoft's
    extensions (Outlook writes circled digits and the like), JIS-Roman and
    half-width katakana. Python's own codec rejects the extensions."""
    out: list[str] = []
    bad = 0
    state = b"(B"
    position = 0
    table = _jis0208()
    for match in [*_ISO2022JP_ESCAPE.finditer(data), None]:
        stop = match.start() if match is not None else len(data)
        chunk = data[position:stop]
        if state in (b"$@", b"$B"):
            i = 0
            while i < len(chunk):
                lead = chunk[i]
                if lead in (0x0A, 0x0D):  # a line break inside a double-byte run
                    out.append(chr(lead))
                    i += 1
                elif 0x21 <= lead <= 0x7E and i + 1 < len(chunk) and 0x21 <= chunk[i + 1] <= 0x7E:
                    out.append(table[(lead - 0x21) * 94 + chunk[i + 1] - 0x21])
                    i += 2
                else:
                    out.append("\ufffd")
                    bad += 1
                    i += 1
        elif state == b"(I":
            for byte in chunk:
                if 0x21 <= byte <= 0x5F:
                    out.append(chr(0xFF61 - 0x21 + byte))
                elif byte in (0x0A, 0x0D):
                    out.append(chr(byte))
                else:
                    out.append("\ufffd")
                    bad += 1
        else:
            text = chunk.decode("ascii", "replace")
            bad += (
                text.count("\ufffd") + text.count("\x1b") + text.count("\x0e") + text.count("\x0f")
            )
            if state == b"(J":
                text = text.replace("\\", "\u00a5").replace("~", "\u203e")
            out.append(text)
        if match is None:
            break
        state = match.group(1)
        position = match.end()
    text = "".join(out)
    if bad and errors == "strict":
        raise UnicodeDecodeError("iso-2022-jp", data, 0, len(data), f"{bad} invalid sequence(s)")
    return text


def _decode(data: bytes, codec: str, errors: str = "strict") -> str:
    if codec == ISO2022JP:
        return decode_iso2022jp(data, errors)
    if codec == "utf-7":  # the one charset whose decoder can yield lone surrogates
        return scrub(data.decode(codec, errors))
    return data.decode(codec, errors)


# -- detection, within a budget per message -------------------------------------------

# The charsets undeclared mail is actually written in; limiting detection to them
# keeps short texts from being read as some rare code page.
_LIKELY = [
    "utf_8", "cp1252", "cp1250", "iso8859_2", "cp1251", "koi8_r", "cp1253",
    "cp1254", "cp1255", "cp1256", "cp1257", "cp874", "gb18030", "big5", "cp932", "euc_jp",
    "iso2022_jp", "cp949",
]  # fmt: skip
# Detection reads a sample: it is as reliable on 64 KiB as on the whole text.
_SAMPLE = 64 * 1024
MAX_DETECTIONS = 16


@dataclass(slots=True)
class _Budget:
    """How much detection one message may still cause, and what it found so far."""

    left: int = MAX_DETECTIONS
    found: dict[str | None, str] = field(default_factory=dict)  # declared codec -> detected
    header_codec: str | None = None  # detected once from all of a message's 8-bit headers


_BUDGET: ContextVar[_Budget | None] = ContextVar("deskmail_charset_budget", default=None)


class detection_budget:  # noqa: N801 - used like a function: `with detection_budget():`
    """Bound charset detection while parsing one message: at most `limit` runs; after
    that, what an earlier run found for the same (or no) label is tried instead."""

    def __init__(self, limit: int = MAX_DETECTIONS) -> None:
        self.limit = limit
        self.token: Token[_Budget | None] | None = None

    def __enter__(self) -> None:
        self.token = _BUDGET.set(_Budget(left=self.limit))

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _BUDGET.reset(self.token)


def detect(data: bytes) -> str | None:
    """The most plausible codec for undeclared text, by charset-normalizer."""
    from charset_normalizer import from_bytes

    sample = data[:_SAMPLE]
    if len(data) > _SAMPLE and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]  # never cut a character in two
    try:
        best = from_bytes(sample, cp_isolation=_LIKELY).best()
    except Exception:  # a detector failure is a failed guess, nothing more
        return None
    if best is None:
        return None
    return codec_for(best.encoding)


def guess_header_charset(values: list[bytes]) -> None:
    """Detect once, from all of a message's 8-bit header values that are not UTF-8,
    the charset its undeclared header text is in: one header is too short to tell."""
    budget = _BUDGET.get()
    if budget is None or budget.left <= 0:
        return
    unknown = []
    for value in values:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            unknown.append(value)
    if unknown:
        budget.left -= 1
        budget.header_codec = detect(b"\n".join(unknown))


def decode_text(
    data: bytes,
    declared: str | None = None,
    defects: list[str] | None = None,
    *,
    header: bool = False,
) -> str:
    """Decode body or header bytes: UTF-8 when they are valid UTF-8, else the declared
    charset, else detection, else Windows-1252. Never raises.

    Valid UTF-8 wins over a declared single-byte charset because mislabelled UTF-8
    is common and non-ASCII text in another charset is almost never valid UTF-8.
    Undeclared `header` text is tried in guess_header_charset()'s codec first.
    """
    try:
        return _decode_text(data, declared, defects, header)
    except Exception as exc:  # a codec bug must cost this piece of text only
        if defects is not None:
            defects.append(f"charset {declared!r} failed ({type(exc).__name__}), read as Latin-1")
        return data.decode("cp1252", "replace")


def _decode_text(data: bytes, declared: str | None, defects: list[str] | None, header: bool) -> str:
    codec = codec_for(declared)
    if declared and codec is None and defects is not None and declared.strip().strip("\"'"):
        if declared.strip().strip("\"'").lower() not in _MEANINGLESS:
            defects.append(f"charset {declared[:40]!r} is not a text charset, ignored")
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
            return _decode(data, codec)
        except (UnicodeError, LookupError):
            pass
    what = f"charset {declared!r} did not fit" if codec else "no charset declared"
    budget = _BUDGET.get()
    key = codec
    if budget is not None and header and codec is None and budget.header_codec:
        try:
            text = _decode(data, budget.header_codec)
        except (UnicodeError, LookupError):
            pass
        else:
            if defects is not None:
                defects.append(f"{what}, detected {budget.header_codec}")
            return text
    if budget is not None and budget.left <= 0 and key in budget.found:
        try:
            text = _decode(data, budget.found[key])
        except (UnicodeError, LookupError):
            pass
        else:
            if defects is not None:
                defects.append(f"{what}, read as {budget.found[key]} like earlier text")
            return text
    guess = None
    if budget is None or budget.left > 0:
        if budget is not None:
            budget.left -= 1
        guess = detect(data)
    elif defects is not None:
        defects.append(f"charset detection limit of {MAX_DETECTIONS} per message reached")
    if guess:
        try:
            text = _decode(data, guess)
        except (UnicodeError, LookupError):
            pass
        else:
            if budget is not None:
                budget.found[key] = guess
            if defects is not None:
                defects.append(f"{what}, detected {guess}")
            return text
    if codec is not None:
        if defects is not None:
            defects.append(f"undecodable text (charset {declared!r}), replaced bad bytes")
        return _decode(data, codec, "replace")
    if defects is not None:
        defects.append("undecodable text (no charset), read as Latin-1")
    return data.decode("cp1252", "replace")


# Charsets in which the same bytes can also be valid UTF-8 by accident.
_WIDE = {"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}


def _stateful(codec: str) -> bool:
    """Codecs whose pure-ASCII input can still mean something else (ISO-2022, UTF-7)."""
    return codec.startswith(("iso2022", "utf-7", "utf_7", "hz"))


# -- text that cannot be written as UTF-8 ---------------------------------------------

_SURROGATES = re.compile(r"[\ud800-\udfff]+")
_ESCAPED_BYTES = re.compile(r"[\udc80-\udcff]+")


def _unescape(match: re.Match[str]) -> str:
    data = match.group(0).encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def has_surrogates(text: str) -> bool:
    return not text.isascii() and _SURROGATES.search(text) is not None


def scrub(text: str) -> str:
    """`text` without surrogates, which no UTF-8 output can carry: bytes kept as
    surrogate escapes are decoded (UTF-8, else Windows-1252), pairs are joined and
    anything left over becomes U+FFFD."""
    if text.isascii() or _SURROGATES.search(text) is None:  # isascii() reads a flag
        return text
    text = _ESCAPED_BYTES.sub(_unescape, text)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
