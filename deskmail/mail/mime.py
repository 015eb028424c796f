"""The MIME tree of a message, built by searching for boundaries in the bytes.

The stdlib feed parser reads line by line, compiles a regular expression for
every multipart boundary and checks every line against every enclosing
boundary, so its cost grows with size times nesting depth; it also recurses
once per nesting level. This module builds the same compat32 `Message` tree by
searching the bytes for each multipart's delimiters within its own range.

`build()` is strict: it returns None as soon as anything is unusual (it is the
stdlib's tree or nothing, which the tests check). `build(..., lenient=True)`
never gives up: it applies the stdlib's recovery rules (a missing close
delimiter ends the part at the end of its parent, a boundary that never occurs
leaves the body as text, a line that is not a header starts the body), and caps
what one message can make it do: at most `MAX_PARTS` entities and `MAX_DEPTH`
levels. What it repaired or capped is recorded as defects on the entity.
"""

from __future__ import annotations

import re
from email import errors
from email.message import Message
from email.policy import Policy

MAX_DEPTH = 30
MAX_PARTS = 1_000
# Header fields kept per entity; past it only the ones a parser reads, a tenth as many.
MAX_FIELDS = 10_000
ESSENTIAL = {
    "from", "sender", "to", "cc", "reply-to", "subject", "message-id", "in-reply-to",
    "references", "date", "content-type", "content-transfer-encoding", "content-disposition",
    "content-id", "auto-submitted", "precedence", "x-auto-response-suppress",
}  # fmt: skip
_BLANK_LINE = re.compile(rb"\n\r?\n")
_BAD_HEADER_LINE = re.compile(rb"^(?![\x21-\x39\x3b-\x7e]+:|[ \t])", re.MULTILINE)
_HEADER = re.compile(rb"^([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.M)
_TEXT_HEADER = re.compile(_HEADER.pattern.decode("ascii"), re.M)
_SMALL_BLOCK = 64 * 1024
_LENIENT_HEADER = re.compile(r"([\x21-\x39\x3b-\x7e]+)[ \t]*:[ \t]*")
_LEAF_CTES = ("", "7bit", "8bit", "binary")


class TooManyPartsDefect(errors.MessageDefect):
    """More MIME entities than MAX_PARTS: the rest were not read."""


class TooManyHeadersDefect(errors.MessageDefect):
    """More header fields than MAX_FIELDS: the rest were not kept."""


class _Fields:
    """Header fields of one entity, at most MAX_FIELDS of any kind."""

    def __init__(self, found: list[errors.MessageDefect]) -> None:
        self.fields: list[tuple[str, str]] = []
        self.found = found
        self.extra = 0
        self.skipped = 0

    def add(self, name: str, value: str) -> bool:
        if len(self.fields) >= MAX_FIELDS:
            if name.lower() not in ESSENTIAL or self.extra >= MAX_FIELDS // 10:
                if not self.skipped:
                    self.found.append(TooManyHeadersDefect(f"more than {MAX_FIELDS:,}"))
                self.skipped += 1
                return False
            self.extra += 1
        self.fields.append((name, value))
        return True


class NestedTooDeeplyDefect(errors.MessageDefect):
    """Nested deeper than MAX_DEPTH: the entity was kept whole, as an attachment."""


class IndexedMessage(Message):
    """A compat32 `Message` that looks headers up in a dict instead of a list scan.

    `Message.get()` lower-cases every header name on every call, and parameter
    lookups re-parse the header each time; the parser asks often, so both are
    remembered. The index is rebuilt when headers are appended (as the stdlib
    parser does while building); the parser never changes headers otherwise.
    """

    _headers: list[tuple[str, str]]
    _index: dict[str, str] | None = None
    _index_size = -1
    _params: dict[str, object] | None = None

    def __contains__(self, name: object) -> bool:
        self.get("")  # refreshes the index
        return isinstance(name, str) and self._index is not None and name.lower() in self._index

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        index = self._index
        if index is None or self._index_size != len(self._headers):
            index = {}
            for key, value in self._headers:
                index.setdefault(key.lower(), value)
            self._index = index
            self._index_size = len(self._headers)
            self._params = None
        found = index.get(name.lower())
        if found is None:
            return failobj
        return self.policy.header_fetch_parse(name, found)

    _ctype: str | None = None
    _raw_body: memoryview | None = None
    _raw_payload: memoryview | None = None
    # Set when the builder stopped descending here (MAX_DEPTH): keep it whole.
    too_deep = False

    @property
    def raw_body(self) -> bytes | None:
        """An attached message exactly as it came (message/* parts only)."""
        return bytes(self._raw_body) if self._raw_body is not None else None

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
            params[key] = super()._get_params_preserve(_MISSING, header)  # type: ignore[misc]
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


def _headers(block: bytes, found: list[errors.MessageDefect]) -> list[tuple[str, str]] | None:
    if not block:
        return []
    stop = len(block)
    while stop and block[stop - 1] in (0x0A, 0x0D):
        stop -= 1
    if block[:1] in (b" ", b"\t") or _BAD_HEADER_LINE.search(block, 0, stop):
        return None
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        return None
    if len(block) <= _SMALL_BLOCK:
        text = block.decode("ascii", "surrogateescape")
        pairs = [(m.group(1), m.group(2)) for m in _TEXT_HEADER.finditer(text)]
        if len(pairs) <= MAX_FIELDS:
            return pairs
        capped = _Fields(found)
        for name, value in pairs:
            capped.add(name, value)
        return capped.fields
    fields = _Fields(found)
    for match in _HEADER.finditer(block):  # field by field: a large block is not copied
        name, value = match.group(1, 2)
        fields.add(name.decode("ascii"), value.decode("ascii", "surrogateescape"))
    return fields.fields


def _lenient_headers(
    block: bytes, found: list[errors.MessageDefect]
) -> tuple[list[tuple[str, str]], int]:
    """Headers of a block as the stdlib reads them, and how many bytes they took:
    the first line that is neither a header nor folded starts the body."""
    fields = _Fields(found)
    headers = fields.fields
    kept = False
    position = 0
    size = len(block)
    while position < size:
        stop = block.find(b"\n", position)
        stop = size if stop < 0 else stop + 1
        content = block[position:stop].rstrip(b"\r\n").decode("ascii", "surrogateescape")
        if content[:1] in (" ", "\t"):
            if headers and kept:
                name, value = headers[-1]
                headers[-1] = (name, value + "\r\n" + content)
            elif not headers:
                found.append(errors.FirstHeaderLineIsContinuationDefect(content[:60]))
        elif (match := _LENIENT_HEADER.match(content)) is not None:
            kept = fields.add(match.group(1), content[match.end() :])
        elif content:
            found.append(errors.MissingHeaderBodySeparatorDefect())
            return headers, position
        position = stop
    return headers, size


def _encoded(boundary: str) -> bytes:
    try:
        return boundary.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return boundary.encode("utf-8", "replace")


def _delimiters(
    data: bytes, separator: bytes, start: int, end: int
) -> tuple[list[tuple[int, int, bool]], bool]:
    """(start, end of line, is close) of each delimiter line in data[start:end], up
    to the close one, and whether there was a close one."""
    found: list[tuple[int, int, bool]] = []
    position = data.find(separator, start, end)
    while position >= 0:
        if position == start or data[position - 1] in (0x0A, 0x0D):
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
                    return found, True
        position = data.find(separator, position + 1, end)
    return found, False


def _before_line_break(data: bytes, position: int, floor: int) -> int:
    """Where the line break ending just before `position` starts (it belongs to a delimiter)."""
    cut = 2 if data[position - 2 : position] == b"\r\n" and position - 2 >= floor else 1
    return max(floor, position - cut)


class _Builder:
    def __init__(self, data: bytes, policy: Policy, lenient: bool) -> None:
        self.data = data
        self.view = memoryview(data)
        self.policy = policy
        self.lenient = lenient
        self.count = 0
        self.capped = False
        self.head: tuple[bytes, int] | None = None  # a repaired top-level header block

    def leaf(self, msg: IndexedMessage, body: int, end: int) -> IndexedMessage:
        msg.set_raw_payload(self.view[body:end])
        return msg

    def entity(
        self, start: int, end: int, depth: int, default: str = "text/plain"
    ) -> IndexedMessage | None:
        data = self.data
        self.count += 1
        if depth == 0 and self.head is not None:
            head, body = self.head
        else:
            head, body = _split_head(data, start, end)
        found: list[errors.MessageDefect] = []
        headers = _headers(head, found)
        if headers is None:
            if not self.lenient:
                return None
            headers, used = _lenient_headers(head, found)
            if used < len(head):
                body = start + used
        msg = IndexedMessage(self.policy)
        msg._headers = headers
        msg.defects.extend(found)
        if default != "text/plain":
            msg.set_default_type(default)
        ctype = msg.get_content_type()
        maintype = ctype.split("/", 1)[0]
        if maintype not in ("message", "multipart"):
            return self.leaf(msg, body, end)
        if depth >= MAX_DEPTH:
            if not self.lenient:
                return None
            msg.defects.append(NestedTooDeeplyDefect(f"more than {MAX_DEPTH} levels"))
            msg.too_deep = True
            return self.leaf(msg, body, end)
        if maintype == "message":
            return self.message(msg, ctype, body, end, depth)
        return self.multipart(msg, ctype, body, end, depth)

    def message(
        self, msg: IndexedMessage, ctype: str, body: int, end: int, depth: int
    ) -> IndexedMessage | None:
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            if not self.lenient:
                return None
            msg._payload = self.field_blocks(body, end)
            msg._raw_body = self.view[body:end]
            return msg
        inner = self.entity(body, end, depth + 1)
        if inner is None:
            return None
        msg._payload = [inner]
        msg._raw_body = self.view[body:end]
        return msg

    def field_blocks(self, body: int, end: int) -> list[Message]:
        """A delivery report's blocks of fields (RFC 3464), one `Message` each."""
        blocks: list[Message] = []
        text = self.data[body:end]
        for chunk in re.split(rb"\r?\n[ \t]*\r?\n", text):
            if not chunk.strip() or self.count >= MAX_PARTS:
                continue
            self.count += 1
            block = IndexedMessage(self.policy)
            block._headers, _ = _lenient_headers(chunk, block.defects)
            blocks.append(block)
        return blocks

    def multipart(
        self, msg: IndexedMessage, ctype: str, body: int, end: int, depth: int
    ) -> IndexedMessage | None:
        data = self.data
        boundary = msg.get_boundary()
        cte = str(msg.get("content-transfer-encoding", "")).strip().lower()
        if not self.lenient and (
            not boundary
            or not boundary.isascii()
            or ctype == "multipart/digest"
            or cte not in _LEAF_CTES
        ):
            return None
        if not boundary:
            msg.defects.append(errors.NoBoundaryInMultipartDefect())
            return self.leaf(msg, body, end)
        separator = b"--" + _encoded(boundary)
        found, closed = _delimiters(data, separator, body, end)
        if not found or found[0][2]:
            if not self.lenient:
                return None
            msg.defects.append(errors.StartBoundaryNotFoundDefect())
            return self.leaf(msg, body, end)
        if not closed:
            if not self.lenient:
                return None
            msg.defects.append(errors.CloseBoundaryNotFoundDefect())
            found.append((end, end, True))
        child_type = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        parts: list[Message] = []
        for (_, part_start, _), (next_start, _, _) in zip(found, found[1:], strict=False):
            if next_start <= part_start:
                if not self.lenient:
                    return None  # two delimiters in a row: the stdlib skips the empty part
                continue
            if self.count >= MAX_PARTS:
                if not self.lenient:
                    return None
                if not self.capped:
                    self.capped = True
                    msg.defects.append(TooManyPartsDefect(f"more than {MAX_PARTS}"))
                break
            stop = _before_line_break(data, next_start, part_start) if next_start < end else end
            child = self.entity(part_start, stop, depth + 1, child_type)
            if child is None:
                return None
            parts.append(child)
        first = found[0][0]
        if first > body:
            preamble = data[body : _before_line_break(data, first, body)]
            msg.preamble = preamble.decode("ascii", "surrogateescape")
        if closed:
            msg.epilogue = data[found[-1][1] : end].decode("ascii", "surrogateescape")
        msg._payload = parts
        return msg


def build(
    raw: bytes,
    policy: Policy,
    *,
    lenient: bool = False,
    head: tuple[bytes, int] | None = None,
) -> Message | None:
    """The message tree the stdlib would build, or None when the stdlib should build it.

    With `lenient`, always a tree: damage is repaired the way the stdlib repairs it,
    and recorded in the entities' `defects`. `head` is a repaired header block for
    the message and where its body starts in `raw` (implies `lenient`): the body is
    then read from `raw` in place, never copied.
    """
    builder = _Builder(raw, policy, lenient or head is not None)
    builder.head = head
    return builder.entity(0, len(raw), 0)
