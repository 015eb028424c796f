"""Turn raw RFC 5322 bytes into a `ParsedMessage`. Any bytes in, a result out.

The MIME tree is a compat32 tree built by mime.py, which applies the stdlib's
recovery rules to broken mail in linear time and keeps header values raw. This
module then decodes only the headers and parts it uses, with lenient rules of
its own (headers.py, addresses.py, charsets.py) where compat32 is too strict and
the modern policy both too strict and slow.

Every input costs bounded work: the caps live next to what they bound (mime.py:
parts, depth, header fields; html.py: HTML nesting; charsets.py: detection runs;
here: decoded header fields and body text). A cap that was hit is a defect, and
the rest of the message is still read. Parsing runs in stages, and a stage or
part that fails costs only itself.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import email.utils
import hashlib
import io
import os
import re
import secrets
from collections.abc import Callable
from email import policy
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from deskmail.mail.addresses import parse_addresses
from deskmail.mail.attachments import (
    generated_filename,
    safe_filename,
    split_uuencoded,
    unpack_tnef,
    uudecode,
)
from deskmail.mail.autoreply import auto_submitted_reason, suppresses_auto_reply
from deskmail.mail.bounce import bounce_info
from deskmail.mail.charsets import (
    decode_text,
    detection_budget,
    guess_header_charset,
    has_surrogates,
    scrub,
)
from deskmail.mail.headers import decode_header, repaired_header_block
from deskmail.mail.html import render_html, sanitize
from deskmail.mail.message import Address, Attachment, BounceInfo, ParsedMessage
from deskmail.mail.mime import IndexedMessage
from deskmail.mail.mime import build as build_tree
from deskmail.mail.quotes import extract_reply
from deskmail.mail.spool import SpooledFile, Spooler, read_lines

# Above this size, and with a sink, bodies are streamed to files before parsing.
STREAM_THRESHOLD = 4 * 1024 * 1024

MAX_DEPTH = 40
# What one message may make us do beyond reading it (mime.py caps parts and depth):
# header fields decoded into `headers` (the ones the parser reads are always kept),
# and decoded body text, per part and in all. Larger text parts are kept whole as
# attachments; the body shows their beginning.
MAX_HEADER_FIELDS = 1_000
MAX_DEFECTS = 200  # distinct defects listed; the count of the rest follows
MAX_TEXT_PART = 2 * 1024 * 1024
MAX_BODY_TEXT = 4 * 1024 * 1024
_ALWAYS_KEPT = {
    "from", "sender", "to", "cc", "reply-to", "subject", "message-id", "in-reply-to",
    "references", "date", "auto-submitted", "precedence", "x-auto-response-suppress",
    "content-type", "list-id", "x-loop", "return-path",
}  # fmt: skip
_ANGLE_ID = re.compile(r"<([^<>]+)>")
_CID = re.compile(r"cid:([^\s\"'<>)]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_UU_ENCODINGS = {"x-uuencode", "uuencode", "x-uue", "uue"}
_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}


class _RawHeaders(type(policy.compat32)):  # type: ignore[misc]
    """compat32, except that 8-bit header values stay str (bytes as surrogates)
    instead of becoming `Header` objects; decode_header() turns them into text."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaders(message_factory=IndexedMessage)


def _defect_text(defect: object) -> str:
    name = type(defect).__name__.removesuffix("Defect")
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    return f"{words}: {defect}" if str(defect) else words


class _Builder:
    """Walks the MIME tree once, filling in bodies and attachments."""

    def __init__(
        self, result: ParsedMessage, sink_dir: Path | None, spooler: Spooler | None = None
    ) -> None:
        self.result = result
        self.sink_dir = sink_dir
        self.spooler = spooler
        self.defects = result.defects
        # Bodies found inside winmail.dat, used when the MIME tree carries none.
        self.tnef_plains: list[str] = []
        self.tnef_htmls: list[str] = []
        self.text_size = 0  # decoded body text so far, for MAX_BODY_TEXT

    # -- payloads -------------------------------------------------------------

    def spooled(self, part: Message) -> SpooledFile | None:
        if self.spooler is None:
            return None
        key = part.get(self.spooler.header_name)
        return self.spooler.files.get(str(key).strip()) if key is not None else None

    def payload_bytes(self, part: Message) -> bytes:
        spooled = self.spooled(part)
        if spooled is not None:
            return Path(spooled.path).read_bytes()
        view = part.raw_payload() if isinstance(part, IndexedMessage) else None
        if view is not None:
            data: bytes | memoryview = view
        else:
            # raw: get_payload() would re-decode 8-bit text lossily
            payload = getattr(part, "_payload", None)
            if isinstance(payload, list) or payload is None:
                return b""
            data = (
                payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else payload
            )
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if cte == "base64":
            try:
                return binascii.a2b_base64(data)
            except binascii.Error:
                self.defects.append("invalid base64 body, decoded what was readable")
                return _repair_base64(data)
        if cte == "quoted-printable":
            return binascii.a2b_qp(data)
        if cte in _UU_ENCODINGS:
            return uudecode(bytes(data))[1]
        return bytes(data)

    def text_of(self, part: Message, data: bytes) -> str:
        charset = part.get_param("charset")
        if isinstance(charset, tuple):  # RFC 2231 form
            charset = charset[2]
        if charset is None and part.get_content_subtype() == "html":
            meta = _META_CHARSET.search(data[:4096])
            if meta:
                charset = meta.group(1).decode("ascii")
        text = decode_text(data, str(charset) if charset else None, self.defects)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if part.get_content_subtype() == "plain":
            fmt = str(part.get_param("format") or "").lower()
            if fmt == "flowed":
                delsp = str(part.get_param("delsp") or "").lower() == "yes"
                text = unflow(text, delsp)
        return text

    def body_part(self, part: Message, ctype: str, plains: list[str], htmls: list[str]) -> None:
        """A text part of the body; one too large for the body is also kept whole."""
        data = self.payload_bytes(part)
        room = MAX_BODY_TEXT - self.text_size
        if room <= 0:
            self.defects.append(f"body text over {MAX_BODY_TEXT:,} bytes, further parts attached")
            self.add_attachment(data, "", ctype)
            return
        if len(data) > min(room, MAX_TEXT_PART):
            self.defects.append(
                f"{ctype} part of {len(data):,} bytes: its beginning is the body,"
                " the whole part is attached"
            )
            self.add_attachment(data, "", ctype)
            cut = data.rfind(b"\n", 0, min(room, MAX_TEXT_PART))
            data = data[: cut + 1 if cut > 0 else min(room, MAX_TEXT_PART)]
        self.text_size += len(data)
        text = self.text_of(part, data)
        if ctype == "text/html":
            htmls.append(text)
        else:
            text, files = split_uuencoded(text)
            for name, payload in files:
                self.add_attachment(payload, safe_filename(name), _guess_type(name))
            plains.append(text)

    # -- attachments ----------------------------------------------------------

    def filename(self, part: Message) -> str:
        if part.get("content-disposition") is None and "name" not in str(
            part.get("content-type", "")
        ):
            return ""
        try:
            name = part.get_filename()
        except Exception:
            name = None
        if not name:
            return ""
        return safe_filename(decode_header(str(name), self.defects))

    def add_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str,
        *,
        inline: bool = False,
        content_id: str | None = None,
    ) -> None:
        index = len(self.result.attachments) + 1
        if content_type == "application/octet-stream" and filename:
            content_type = _guess_type(filename)
        digest = hashlib.sha256(data).hexdigest()
        attachment = Attachment(
            filename=filename or generated_filename(content_type, index),
            content_type=content_type,
            size=len(data),
            inline=inline,
            content_id=content_id,
            sha256=digest,
        )
        if self.sink_dir is not None:
            path = self.sink_dir / digest
            if not path.exists():
                tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
                tmp.write_bytes(data)
                tmp.replace(path)
            attachment.path = str(path)
        else:
            attachment.data = data
        self.result.attachments.append(attachment)

    def attachment(self, part: Message, *, inline: bool = False) -> None:
        ctype = part.get_content_type()
        filename = self.filename(part)
        disposition = part.get_content_disposition()
        inline = inline or disposition == "inline"
        content_id = part.get("content-id")
        cid = "".join(str(content_id).split()).strip("<>") or None if content_id else None
        if ctype in ("message/rfc822", "message/global") or (
            part.is_multipart() and part.get_content_maintype() == "message"
        ):
            inner = part.get_payload()
            raw_body = getattr(part, "raw_body", None)
            if raw_body is not None:
                data = raw_body
            elif isinstance(inner, list):
                data = b"".join(_as_bytes(m) for m in inner if isinstance(m, Message))
            else:
                data = self.payload_bytes(part)
            if not filename:
                subject = ""
                if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                    subject = decode_header(str(inner[0].get("subject", "")), None)
                filename = generated_filename(ctype, len(self.result.attachments) + 1, subject)
            self.add_attachment(data, filename, ctype, inline=False, content_id=cid)
            return
        spooled = self.spooled(part)
        is_tnef = ctype in _TNEF_TYPES or filename.lower() == "winmail.dat"
        if spooled is not None and not is_tnef:
            index = len(self.result.attachments) + 1
            if ctype == "application/octet-stream" and filename:
                ctype = _guess_type(filename)
            self.result.attachments.append(
                Attachment(
                    filename=filename or generated_filename(ctype, index),
                    content_type=ctype,
                    size=spooled.size,
                    inline=inline,
                    content_id=cid,
                    path=spooled.path,
                    sha256=spooled.sha256,
                )
            )
            return
        data = self.payload_bytes(part)
        if is_tnef:
            content = unpack_tnef(data)
            if content is not None:
                for name, payload in content.files:
                    guessed = _guess_type(name)
                    self.add_attachment(payload, name, guessed)
                if content.body:
                    self.tnef_plains.append(content.body)
                if content.html:
                    self.tnef_htmls.append(content.html)
                return
            self.defects.append("winmail.dat could not be unpacked, kept as it is")
        self.add_attachment(data, filename, ctype, inline=inline, content_id=cid)

    # -- the tree -------------------------------------------------------------

    def walk(self, part: Message, depth: int = 0) -> tuple[list[str], list[str]]:
        """Body texts and HTML bodies found at or under `part`; attachments are recorded.

        A part that cannot be read costs only itself: the failure is a defect and
        the walk goes on with the next part.
        """
        try:
            return self._walk(part, depth)
        except Exception as exc:
            self.defects.append(f"unreadable {_content_type(part)} part skipped ({_failure(exc)})")
            return [], []

    def _walk(self, part: Message, depth: int) -> tuple[list[str], list[str]]:
        plains: list[str] = []
        htmls: list[str] = []
        if depth > MAX_DEPTH:
            self.defects.append(f"MIME nesting deeper than {MAX_DEPTH}, rest skipped")
            return plains, htmls
        self.defects.extend(_defect_text(d) for d in part.defects)
        ctype = part.get_content_type()
        maintype = part.get_content_maintype()
        if maintype == "message" or getattr(part, "too_deep", False):
            self.attachment(part)
            return plains, htmls
        if part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            subtype = part.get_content_subtype()
            if subtype == "alternative":
                for child in children:
                    p, h = self.walk(child, depth + 1)
                    if any(x.strip() for x in p):
                        plains[:] = p
                    if any(x.strip() for x in h):
                        htmls[:] = h
            elif subtype == "related" and children:
                root = _related_root(part, children)
                p, h = self.walk(root, depth + 1)
                plains += p
                htmls += h
                for child in children:
                    if child is not root:
                        self._walk_resource(child, depth + 1)
            else:
                for child in children:
                    p, h = self.walk(child, depth + 1)
                    plains += p
                    htmls += h
            return plains, htmls
        if maintype == "multipart":
            self.defects.append(f"{ctype} without parts, read as text")
        disposition = part.get_content_disposition()
        is_text_body = (
            ctype in ("text/plain", "text/html") or maintype == "multipart"
        ) and disposition != "attachment"
        if is_text_body and not self.filename(part):
            self.body_part(
                part, "text/html" if ctype == "text/html" else "text/plain", plains, htmls
            )
            return plains, htmls
        self.attachment(part)
        return plains, htmls

    def _walk_resource(self, part: Message, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        try:
            if part.is_multipart() and part.get_content_maintype() != "message":
                for child in part.get_payload():
                    if isinstance(child, Message):
                        self._walk_resource(child, depth + 1)
                return
            self.attachment(part, inline=part.get_content_disposition() != "attachment")
        except Exception as exc:
            self.defects.append(f"unreadable {_content_type(part)} part skipped ({_failure(exc)})")


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "MIME"


def _failure(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}"


def _repair_base64(data: bytes | memoryview) -> bytes:
    """Decode base64 whose last quantum is short or broken, without copying the rest.

    In its lenient mode binascii skips characters outside the alphabet; what it
    cannot forgive is a data-character count that is not a multiple of four.
    The last one to three data characters are decoded apart (one alone carries
    no byte), the rest in place.
    """
    view = memoryview(data)
    for tail in (1, 2, 3):
        cut = len(view)
        found = 0
        while cut > 0 and found < tail:
            cut -= 1
            if _BASE64_CHAR[view[cut]]:
                found += 1
        try:
            head = binascii.a2b_base64(view[:cut])
        except binascii.Error:
            continue
        rest = _BASE64_JUNK.sub(b"", view[cut:])
        if len(rest) < 2:
            return head
        try:
            return head + binascii.a2b_base64(rest + b"=" * (-len(rest) % 4))
        except binascii.Error:
            return head
    try:
        cleaned = _BASE64_JUNK.sub(b"", view)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
        return binascii.a2b_base64(cleaned)
    except binascii.Error:
        return b""


_BASE64_CHAR = [
    chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/") for b in range(256)
]  # fmt: skip


def _related_root(part: Message, children: list[Message]) -> Message:
    start = part.get_param("start")
    if isinstance(start, str) and start:
        wanted = start.strip().strip("<>")
        for child in children:
            if str(child.get("content-id", "")).strip().strip("<>") == wanted:
                return child
    return children[0]


def _as_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes()
    except Exception:
        return message.as_string().encode("utf-8", "surrogateescape")


def _guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft line breaks, remove space-stuffing.

    Only lines of the same quote depth are joined (section 4.5): a flowed quoted
    line followed by an unquoted one ends its paragraph. A joined paragraph keeps
    the quote marks of its first line.
    """
    out: list[str] = []
    current: list[str] = []
    depth = 0
    for line in text.split("\n"):
        marks = len(line) - len(line.lstrip(">")) if line[:1] == ">" else 0
        if current and marks != depth:
            out.append("".join(current))
            current = []
        if marks:
            # Space-stuffing after the quote marks (section 4.4) is kept for reading.
            prefix = (
                "" if current else line[:marks] + (" " if line[marks : marks + 1] == " " else "")
            )
            content = line[marks + 1 :] if line[marks : marks + 1] == " " else line[marks:]
        else:
            prefix = ""
            content = line[1:] if line[:1] == " " else line  # space-stuffing (4.4)
        if not current:
            depth = marks
        if content[-1:] == " " and content != "-- ":
            current.append(prefix + (content[:-1] if delsp else content))
            continue
        current.append(prefix + content)
        out.append("".join(current))
        current = []
    if current:
        out.append("".join(current))
    return "\n".join(out)


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    value = decode_header(value, None)
    match = _ANGLE_ID.search(value)
    found = match.group(1) if match else value
    found = "".join(found.split()).strip("<>")
    return found or None


def _references(value: str | None) -> list[str]:
    if not value:
        return []
    ids = ["".join(x.split()) for x in _ANGLE_ID.findall(value)]
    return [i for i in ids if i] or [x.strip("<>") for x in value.split() if x.strip("<>")]


def _date(value: str | None, defects: list[str]) -> dt.datetime | None:
    if not value:
        defects.append("no Date header")
        return None
    try:
        date = email.utils.parsedate_to_datetime(" ".join(value.split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        date = None
    if date is None:
        defects.append(f"unparseable Date {value.strip()!r}, left empty")
        return None
    if date.tzinfo is None:
        defects.append("Date without a time zone, read as UTC")
        date = date.replace(tzinfo=dt.UTC)
    return date


def _parse(
    raw: bytes,
    result: ParsedMessage,
    end_marker: str | None,
    sink: Path | None,
    spooler: Spooler | None = None,
) -> None:
    """Fill `result` stage by stage. A stage that fails costs only what it fills:
    the failure is a defect, and the other stages still run."""
    defects = result.defects
    with detection_budget():
        head = _stage(defects, "header repair", lambda: repaired_header_block(raw, defects))
        msg = _stage(
            defects, "MIME structure", lambda: build_tree(raw, _POLICY, lenient=True, head=head)
        )
        if not isinstance(msg, IndexedMessage):
            msg = IndexedMessage(_POLICY)
            msg.set_raw_payload(memoryview(raw))
        _stage(defects, "headers", lambda: _read_headers(msg, result, spooler))
        _stage(defects, "addresses", lambda: _read_addresses(msg, result))
        _stage(defects, "subject", lambda: _read_subject(msg, result))
        _stage(defects, "Message-ID", lambda: _read_ids(msg, result))
        _stage(defects, "Date", lambda: _read_date(msg, result))
        builder = _Builder(result, sink, spooler)
        bodies = _stage(defects, "body", lambda: builder.walk(msg)) or ([], [])
        signature_at = _stage(defects, "body text", lambda: _read_bodies(builder, bodies, result))
        _stage(defects, "reply text", lambda: _read_reply(result, signature_at, end_marker))
        _stage(defects, "bounce", lambda: _read_bounce(msg, result))
        _stage(defects, "auto-reply", lambda: _read_automatic(result))


def _stage[T](defects: list[str], name: str, run: Callable[[], T]) -> T | None:
    try:
        return run()
    except Exception as exc:
        defects.append(f"{name} could not be read ({_failure(exc)})")
        return None


def _read_headers(msg: Message, result: ParsedMessage, spooler: Spooler | None) -> None:
    """Decode header fields into `result.headers`: at most MAX_HEADER_FIELDS of them,
    plus every field the parser reads itself. One that cannot be decoded is kept raw."""
    headers = result.headers
    defects = result.defects
    internal = spooler.header_name.lower() if spooler is not None else None
    count = 0
    skipped = 0
    fields = _raw_headers(msg)
    if not all(value.isascii() for _, value in fields):
        eight_bit = [v for _, v in fields[:MAX_HEADER_FIELDS] if not v.isascii()]
        guess_header_charset([_raw_bytes(v) for v in eight_bit])
    for name, value in fields:  # raw values, in order; decoded once here
        key = name.strip().lower()
        if key == internal:
            continue
        count += 1
        if count > MAX_HEADER_FIELDS and key not in _ALWAYS_KEPT:
            skipped += 1
            continue
        try:
            text = decode_header(value, defects)
        except Exception as exc:
            defects.append(f"header {key[:40]} kept undecoded ({_failure(exc)})")
            text = scrub(value)
        headers.setdefault(key, []).append(text)
    if skipped:
        defects.append(
            f"{skipped:,} header field(s) beyond the first {MAX_HEADER_FIELDS:,} ignored"
        )


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = getattr(msg, "_headers", [])
    return fields


def _raw_bytes(value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


def _read_addresses(msg: Message, result: ParsedMessage) -> None:
    defects = result.defects
    senders = _addresses(msg, "from", defects)
    if not senders:
        senders = _addresses(msg, "sender", defects)
        defects.append("no usable From address" + (", used Sender" if senders else ""))
    if senders:
        result.from_address, result.from_name = senders[0].address, senders[0].name
    result.to = _addresses(msg, "to", defects)
    result.cc = _addresses(msg, "cc", defects)
    result.reply_to = _addresses(msg, "reply-to", defects)


def _addresses(msg: Message, name: str, defects: list[str]) -> list[Address]:
    values = [str(v) for v in msg.get_all(name) or []]
    try:
        return parse_addresses(values, defects)
    except Exception as exc:
        defects.append(f"{name} addresses could not be read ({_failure(exc)})")
        return []


def _read_subject(msg: Message, result: ParsedMessage) -> None:
    subject = result.headers.get("subject")
    if subject is None and msg.get("subject") is not None:
        subject = [decode_header(str(msg.get("subject")), result.defects)]
    result.subject = " ".join((subject or [""])[0].split())


def _read_ids(msg: Message, result: ParsedMessage) -> None:
    def raw(name: str) -> str | None:
        value = msg.get(name)
        return str(value) if value is not None else None

    defects = result.defects
    result.message_id = _stage(defects, "Message-ID", lambda: _first_id(raw("message-id")))
    result.in_reply_to = _stage(defects, "In-Reply-To", lambda: _first_id(raw("in-reply-to")))
    result.references = _stage(defects, "References", lambda: _references(raw("references"))) or []


def _read_date(msg: Message, result: ParsedMessage) -> None:
    value = msg.get("date")
    result.date = _date(str(value) if value is not None else None, result.defects)


def _read_bodies(
    builder: _Builder, bodies: tuple[list[str], list[str]], result: ParsedMessage
) -> int | None:
    """Fill the body fields. When the text comes from HTML, where in it a signature
    block the HTML marks (Gmail's, Thunderbird's) starts, if it has one."""
    plains, htmls = bodies
    if not any(p.strip() for p in plains) and not any(h.strip() for h in htmls):
        plains, htmls = builder.tnef_plains, builder.tnef_htmls
    result.body_text = "\n\n".join(p.strip("\n") for p in plains if p.strip())
    html = "\n".join(h for h in htmls if h.strip())
    if not html:
        return None
    result.body_html = sanitize(html, result.defects)
    cids = set(_CID.findall(result.body_html)) if "cid:" in result.body_html else set()
    for attachment in result.attachments:
        # Outlook sometimes puts images the HTML shows outside multipart/related.
        if attachment.content_id and attachment.content_id in cids:
            attachment.inline = True
    if result.body_text.strip():
        return None
    rendered = render_html(result.body_html)
    result.body_text = rendered.text
    return rendered.signature_at


def _read_reply(result: ParsedMessage, signature_at: int | None, end_marker: str | None) -> None:
    text = result.body_text if signature_at is None else result.body_text[:signature_at]
    result.reply_text = extract_reply(text, end_marker)


def _read_bounce(msg: Message, result: ParsedMessage) -> None:
    result.bounce_info = bounce_info(msg, result.from_address, result.subject, result.body_text)
    result.bounce = result.bounce_info is not None


def _read_automatic(result: ParsedMessage) -> None:
    reason = auto_submitted_reason(result.headers)
    if reason is None and result.bounce:
        reason = "delivery status notification"
    if reason is None and result.from_address.startswith("mailer-daemon@"):
        reason = f"sender {result.from_address}"
    result.auto_submitted = reason is not None
    result.auto_submitted_reason = reason
    result.suppress_auto_reply = suppresses_auto_reply(result.headers)


def _scrub_result(result: ParsedMessage) -> None:
    """No string in the result may hold a surrogate: they cannot be written as UTF-8.

    The bodies need no pass: decode_text() never yields surrogates and the HTML
    comes out of nh3, which holds UTF-8 only. Raw header values are what can.
    """
    strings = [result.from_address, result.from_name, result.subject, *result.references]
    strings += [result.message_id or "", result.in_reply_to or ""]
    strings += [a.address + a.name for a in (*result.to, *result.cc, *result.reply_to)]
    strings += [a.filename + a.content_type + (a.content_id or "") for a in result.attachments]
    strings += [k + "".join(vs) for k, vs in result.headers.items()]
    strings += result.defects
    if result.bounce_info is None and not has_surrogates("".join(strings)):
        if len(result.defects) > 1:
            result.defects[:] = dict.fromkeys(result.defects)
        return
    for name in ("from_address", "from_name", "subject"):
        setattr(result, name, scrub(getattr(result, name)))
    for name in ("message_id", "in_reply_to", "auto_submitted_reason"):
        value = getattr(result, name)
        if value is not None:
            setattr(result, name, scrub(value))
    result.references = [scrub(r) for r in result.references]
    for address in (*result.to, *result.cc, *result.reply_to):
        address.address, address.name = scrub(address.address), scrub(address.name)
    for attachment in result.attachments:
        attachment.filename = scrub(attachment.filename)
        attachment.content_type = scrub(attachment.content_type)
        if attachment.content_id is not None:
            attachment.content_id = scrub(attachment.content_id)
    info = result.bounce_info
    if info is not None:
        _scrub_bounce(info)
    headers = result.headers
    if not all(k.isascii() and all(v.isascii() for v in vs) for k, vs in headers.items()):
        result.headers = {scrub(k): [scrub(v) for v in vs] for k, vs in headers.items()}
    defects = dict.fromkeys(scrub(d) for d in result.defects)  # each repair once
    if len(defects) > MAX_DEFECTS:
        more = len(defects) - MAX_DEFECTS
        defects = dict.fromkeys([*list(defects)[:MAX_DEFECTS], f"... and {more:,} more"])
    result.defects[:] = defects


def _scrub_bounce(info: BounceInfo) -> None:
    info.recipients = list(dict.fromkeys(scrub(r) for r in info.recipients))
    for name in ("status", "diagnostic", "original_message_id"):
        value = getattr(info, name)
        if value is not None:
            setattr(info, name, scrub(value))


def parse_bytes(
    raw: bytes, *, end_marker: str | None = None, sink_dir: str | os.PathLike[str] | None = None
) -> ParsedMessage:
    """Parse one message. Never raises on input: what was wrong goes to `defects`.

    `end_marker` cuts `reply_text` at a line like "##- Please type your reply
    above this line -##". With `sink_dir`, attachment bytes are written to files
    named by their SHA-256 there (`Attachment.path`) instead of held in memory.
    """
    if sink_dir is not None and len(raw) > STREAM_THRESHOLD:
        return _parse_stream(io.BytesIO(raw), end_marker, Path(sink_dir))
    result = ParsedMessage()
    sink = Path(sink_dir) if sink_dir is not None else None
    try:
        _parse(raw if type(raw) is bytes else bytes(raw), result, end_marker, sink)
    except Exception as exc:  # any bytes in, a result out
        result.defects.append(f"unreadable message ({type(exc).__name__}: {exc})")
    _scrub_result(result)
    return result


def parse_file(
    path: str | os.PathLike[str],
    *,
    end_marker: str | None = None,
    sink_dir: str | os.PathLike[str] | None = None,
) -> ParsedMessage:
    """Parse the message in a file. With `sink_dir`, a large message is streamed:
    attachment bodies go straight to files there and memory stays flat."""
    if sink_dir is not None and os.path.getsize(path) > STREAM_THRESHOLD:
        with open(path, "rb") as handle:
            return _parse_stream(handle, end_marker, Path(sink_dir))
    with open(path, "rb") as handle:
        raw = handle.read()
    return parse_bytes(raw, end_marker=end_marker, sink_dir=sink_dir)


def _parse_stream(handle: BinaryIO, end_marker: str | None, sink: Path) -> ParsedMessage:
    result = ParsedMessage()
    spooler = Spooler(sink)
    try:
        skeleton = spooler.run(read_lines(handle))
        _parse(skeleton, result, end_marker, sink, spooler)
    except Exception as exc:  # any bytes in, a result out
        result.defects.append(f"unreadable message ({type(exc).__name__}: {exc})")
    _scrub_result(result)
    return result
