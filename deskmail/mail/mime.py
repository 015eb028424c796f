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


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    if data.startswith(b"\r\n"):
        return b"", data[2:]
    if data.startswith(b"\n"):
        return b"", data[1:]
    match = _BLANK_LINE.search(data)
    if match is None:
        return data, b""
    return data[: match.start() + 1], data[match.end() :]


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


def _delimiters(body: bytes, separator: bytes) -> list[tuple[int, int, bool]] | None:
    """(start, end of line, is close) of each delimiter line, up to the close one."""
    found: list[tuple[int, int, bool]] = []
    size = len(body)
    position = body.find(separator)
    while position >= 0:
        if position == 0 or body[position - 1] == 0x0A:
            end = position + len(separator)
            close = body.startswith(b"--", end)
            if close:
                end += 2
            while end < size and body[end] in (0x20, 0x09):
                end += 1
            if end == size or body[end] in (0x0A, 0x0D):
                if body.startswith(b"\r\n", end):
                    end += 2
                elif end < size:
                    end += 1
                found.append((position, end, close))
                if close:
                    return found
        position = body.find(separator, position + 1)
    return None  # no close delimiter: let the stdlib recover


def _entity(data: bytes, policy: Policy, depth: int) -> Message | None:
    if depth > MAX_DEPTH:
        return None
    head, body = _split_head(data)
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
        inner = _entity(body, policy, depth + 1)
        if inner is None:
            return None
        msg._payload = [inner]
        msg.raw_body = body  # the attached message exactly as it came
        return msg
    if maintype != "multipart":
        msg._payload = body.decode("ascii", "surrogateescape")
        return msg
    boundary = msg.get_boundary()
    cte = str(msg.get("content-transfer-encoding", "")).strip().lower()
    if not boundary or not boundary.isascii() or ctype == "multipart/digest":
        return None
    if cte not in _LEAF_CTES:
        return None
    found = _delimiters(body, b"--" + boundary.encode("ascii"))
    if not found or found[0][2]:
        return None
    parts: list[Message] = []
    for (_, start, _), (next_start, _, _) in zip(found, found[1:], strict=False):
        if next_start <= start:
            return None  # two delimiters in a row: the stdlib skips the empty part
        stop = next_start - (2 if body[next_start - 2 : next_start] == b"\r\n" else 1)
        child = _entity(body[start:stop], policy, depth + 1)
        if child is None:
            return None
        parts.append(child)
    first = found[0][0]
    if first:
        cut = 2 if body[first - 2 : first] == b"\r\n" else 1
        msg.preamble = body[: first - cut].decode("ascii", "surrogateescape")
    msg.epilogue = body[found[-1][1] :].decode("ascii", "surrogateescape")
    msg._payload = parts
    return msg


def build(raw: bytes, policy: Policy) -> Message | None:
    """The message tree the stdlib would build, or None when the stdlib should build it."""
    return _entity(raw, policy, 0)
