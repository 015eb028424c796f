"""A fast MIME tree builder for well-formed messages, with the stdlib parser as fallback.

The stdlib feed parser reads line by line and compiles a regular expression
for every multipart boundary it meets, which makes it the slowest step of
parsing ordinary mail. Most mail is well-formed, so this module splits it by
searching for boundaries in the bytes and builds the same compat32 `Message`
tree. As soon as anything is unusual (a header block the stdlib would repair,
a missing boundary, digests, delivery reports, deep nesting) it gives up and
returns None, and the caller uses the stdlib parser with its recovery rules.
"""

from __future__ import annotations

import re
from email.message import Message
from email.policy import Policy

MAX_DEPTH = 30
_BLANK_LINE = re.compile(rb"\n\r?\n")
_BAD_HEADER_LINE = re.compile(rb"^(?![\x21-\x39\x3b-\x7e]+:|[ \t])", re.MULTILINE)
_HEADER = re.compile(r"^([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.M)
_LEAF_CTES = ("", "7bit", "8bit", "binary")


class IndexedMessage(Message):
    """A compat32 `Message` that looks headers up in a dict instead of a list scan.

    `Message.get()` lower-cases every header name on every call, and parameter
    lookups re-parse the header each time; the parser asks often, so both are
    remembered. The index is rebuilt when headers are appended (as the stdlib
    parser does while building); the parser never changes headers otherwise.
    """

    _index: dict[str, str] | None = None
    _index_size = -1
    _params: dict[str, object] | None = None

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        index = self._index
        if index is None or self._index_size != len(self._headers):
            index = {}
            for key, value in self._headers:
                index.setdefault(key.lower(), value)
            self._index = index
            self._index_size = len(self._headers)
            self._params = None
        value = index.get(name.lower())
        if value is None:
            return failobj
        return self.policy.header_fetch_parse(name, value)

    _ctype: str | None = None
    raw_body: bytes | None = None
    _raw_payload: memoryview | None = None
    _payload_value: object = None

    # The body of a leaf part stays a view of the message bytes until something
    # asks for compat32's str form, so large attachments are decoded without copies.
    @property
    def _payload(self) -> object:
        raw = self._raw_payload
        if raw is not None:
            self._payload_value = bytes(raw).decode("ascii", "surrogateescape")
            self._raw_payload = None
        return self._payload_value

    @_payload.setter
    def _payload(self, value: object) -> None:
        self._raw_payload = None
        self._payload_value = value

    def is_multipart(self) -> bool:
        return self._raw_payload is None and isinstance(self._payload_value, list)

    def set_raw_payload(self, view: memoryview) -> None:
        self._payload_value = None
        self._raw_payload = view

    def raw_payload(self) -> memoryview | None:
        """The undecoded body bytes, when compat32's str form was never made."""
        return self._raw_payload

    def get_content_type(self) -> str:
        if self._ctype is None or self._index_size != len(self._headers):
            self.get("content-type")  # refreshes the index, and with it the size
            self._ctype = super().get_content_type()
        return self._ctype

    def _get_params_preserve(self, failobj: object, header: str) -> object:
        params = self._params
        if params is None or self._index_size != len(self._headers):
            params = self._params = {}
        key = header.lower()
        if key not in params:
            params[key] = super()._get_params_preserve(_MISSING, header)
        found = params[key]
        return failobj if found is _MISSING else found


_MISSING = object()


def _split_head(data: bytes, start: int, end: int) -> tuple[bytes, int]:
    """The header block of data[start:end], and where the body starts."""
    if data.startswith(b"\r\n", start, end):
        return b"", start + 2
    if data.startswith(b"\n", start, end):
        return b"", start + 1
    match = _BLANK_LINE.search(data, start, end)
    if match is None:
        return data[start:end], end
    return data[start : match.start() + 1], match.end()


def _headers(block: bytes) -> list[tuple[str, str]] | None:
    if not block:
        return []
    stripped = block.rstrip(b"\r\n")
    if stripped[:1] in (b" ", b"\t") or _BAD_HEADER_LINE.search(stripped):
        return None
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        return None
    text = block.decode("ascii", "surrogateescape")
    return [(m.group(1), m.group(2)) for m in _HEADER.finditer(text)]


def _delimiters(
    data: bytes, separator: bytes, start: int, end: int
) -> list[tuple[int, int, bool]] | None:
    """(start, end of line, is close) of each delimiter line in data[start:end],
    up to the close one; None when there is no close delimiter."""
    found: list[tuple[int, int, bool]] = []
    position = data.find(separator, start, end)
    while position >= 0:
        if position == start or data[position - 1] == 0x0A:
            stop = position + len(separator)
            close = data.startswith(b"--", stop, end)
            if close:
                stop += 2
            while stop < end and data[stop] in (0x20, 0x09):
                stop += 1
            if stop == end or data[stop] in (0x0A, 0x0D):
                if data.startswith(b"\r\n", stop, end):
                    stop += 2
                elif stop < end:
                    stop += 1
                found.append((position, stop, close))
                if close:
                    return found
        position = data.find(separator, position + 1, end)
    return None  # let the stdlib recover


def _before_line_break(data: bytes, position: int, floor: int) -> int:
    """Where the line break ending just before `position` starts (it belongs to a delimiter)."""
    cut = 2 if data[position - 2 : position] == b"\r\n" and position - 2 >= floor else 1
    return max(floor, position - cut)


def _entity(data: bytes, start: int, end: int, policy: Policy, depth: int) -> Message | None:
    if depth > MAX_DEPTH:
        return None
    head, body = _split_head(data, start, end)
    headers = _headers(head)
    if headers is None:
        return None
    msg = IndexedMessage(policy)
    msg._headers = headers
    ctype = msg.get_content_type()
    maintype = ctype.split("/", 1)[0]
    if maintype == "message":
        if ctype == "message/delivery-status":
            return None
        inner = _entity(data, body, end, policy, depth + 1)
        if inner is None:
            return None
        msg._payload = [inner]
        msg.raw_body = data[body:end]  # the attached message exactly as it came
        return msg
    if maintype != "multipart":
        msg.set_raw_payload(memoryview(data)[body:end])
        return msg
    boundary = msg.get_boundary()
    cte = str(msg.get("content-transfer-encoding", "")).strip().lower()
    if not boundary or not boundary.isascii() or ctype == "multipart/digest":
        return None
    if cte not in _LEAF_CTES:
        return None
    found = _delimiters(data, b"--" + boundary.encode("ascii"), body, end)
    if not found or found[0][2]:
        return None
    parts: list[Message] = []
    for (_, part_start, _), (next_start, _, _) in zip(found, found[1:], strict=False):
        if next_start <= part_start:
            return None  # two delimiters in a row: the stdlib skips the empty part
        stop = _before_line_break(data, next_start, part_start)
        child = _entity(data, part_start, stop, policy, depth + 1)
        if child is None:
            return None
        parts.append(child)
    first = found[0][0]
    if first > body:
        preamble = data[body : _before_line_break(data, first, body)]
        msg.preamble = preamble.decode("ascii", "surrogateescape")
    msg.epilogue = data[found[-1][1] : end].decode("ascii", "surrogateescape")
    msg._payload = parts
    return msg


def build(raw: bytes, policy: Policy) -> Message | None:
    """The message tree the stdlib would build, or None when the stdlib should build it."""
    return _entity(raw, 0, len(raw), policy, 0)
