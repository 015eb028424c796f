"""Turn raw RFC 5322 bytes into a `ParsedMessage`. Any bytes in, a result out.

The MIME tree is a compat32 tree, built by mime.py for well-formed mail and by
the stdlib's feed parser (with its recovery rules) for the rest; both keep
header values raw. This module then decodes only the headers and parts it
uses, with lenient rules of its own (headers.py, addresses.py, charsets.py)
where compat32 is too strict and the modern policy both too strict and slow.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import email.parser
import email.utils
import hashlib
import io
import os
import re
import secrets
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
from deskmail.mail.autoreply import auto_submitted_reason
from deskmail.mail.bounce import bounce_info
from deskmail.mail.charsets import decode_text
from deskmail.mail.headers import decode_header, repair_header_block
from deskmail.mail.html import html_to_text, sanitize
from deskmail.mail.message import Attachment, ParsedMessage
from deskmail.mail.mime import IndexedMessage
from deskmail.mail.mime import build as build_tree
from deskmail.mail.quotes import extract_reply
from deskmail.mail.spool import SpooledFile, Spooler, read_lines

# Above this size, and with a sink, bodies are streamed to files before parsing.
STREAM_THRESHOLD = 4 * 1024 * 1024

MAX_DEPTH = 40
_ANGLE_ID = re.compile(r"<([^<>]+)>")
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
            payload = part._payload  # raw: get_payload() would re-decode 8-bit text lossily
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
                cleaned = _BASE64_JUNK.sub(b"", bytes(data))
                if len(cleaned) % 4 == 1:  # a lone trailing character carries no byte
                    cleaned = cleaned[:-1]
                cleaned += b"=" * (-len(cleaned) % 4)
                self.defects.append("invalid base64 body, decoded what was readable")
                try:
                    return binascii.a2b_base64(cleaned)
                except binascii.Error:
                    return b""
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
        attachment = Attachment(
            filename=filename or generated_filename(content_type, index),
            content_type=content_type,
            size=len(data),
            inline=inline,
            content_id=content_id,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        if self.sink_dir is not None:
            path = self.sink_dir / attachment.sha256
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
        """Body texts and HTML bodies found at or under `part`; attachments are recorded."""
        plains: list[str] = []
        htmls: list[str] = []
        if depth > MAX_DEPTH:
            self.defects.append(f"MIME nesting deeper than {MAX_DEPTH}, rest skipped")
            return plains, htmls
        self.defects.extend(_defect_text(d) for d in part.defects)
        ctype = part.get_content_type()
        maintype = part.get_content_maintype()
        if maintype == "message":
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
            data = self.payload_bytes(part)
            text = self.text_of(part, data)
            if ctype == "text/html":
                htmls.append(text)
            else:
                text, files = split_uuencoded(text)
                for name, payload in files:
                    self.add_attachment(payload, safe_filename(name), _guess_type(name))
                plains.append(text)
            return plains, htmls
        self.attachment(part)
        return plains, htmls

    def _walk_resource(self, part: Message, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if part.is_multipart() and part.get_content_maintype() != "message":
            for child in part.get_payload():
                if isinstance(child, Message):
                    self._walk_resource(child, depth + 1)
            return
        self.attachment(part, inline=part.get_content_disposition() != "attachment")


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
        marks = len(line) - len(line.lstrip(">"))
        if current and marks != depth:
            out.append("".join(current))
            current = []
        if not current:
            depth = marks
            prefix = line[:marks]
        else:
            prefix = ""
        content = line[marks:]
        if content.startswith(" "):
            # Space-stuffing (section 4.4); after quote marks it is kept for reading.
            content = content[1:]
            if prefix:
                prefix += " "
        if content.endswith(" ") and content != "-- ":
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
    defects = result.defects
    raw = repair_header_block(raw, defects)
    try:
        msg = build_tree(raw, _POLICY) or email.message_from_bytes(raw, policy=_POLICY)
    except RecursionError:  # thousands of nested multiparts
        defects.append("MIME structure nested too deeply, body read as text")
        msg = email.parser.BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)
    headers = result.headers
    internal = spooler.header_name.lower() if spooler is not None else None
    for name, value in msg._headers:  # raw values, in order; decoded once here
        if name.lower() == internal:
            continue
        headers.setdefault(name.strip().lower(), []).append(decode_header(str(value), defects))

    senders = parse_addresses(msg.get_all("from") or [], defects)
    if not senders:
        senders = parse_addresses(msg.get_all("sender") or [], defects)
        defects.append("no usable From address" + (", used Sender" if senders else ""))
    if senders:
        result.from_address, result.from_name = senders[0].address, senders[0].name
    result.to = parse_addresses(msg.get_all("to") or [], defects)
    result.cc = parse_addresses(msg.get_all("cc") or [], defects)
    result.reply_to = parse_addresses(msg.get_all("reply-to") or [], defects)
    result.subject = " ".join(headers.get("subject", [""])[0].split())
    result.message_id = _first_id(msg.get("message-id"))
    result.in_reply_to = _first_id(msg.get("in-reply-to"))
    result.references = _references(msg.get("references"))
    result.date = _date(msg.get("date"), defects)

    builder = _Builder(result, sink, spooler)
    plains, htmls = builder.walk(msg)
    if not any(p.strip() for p in plains) and not any(h.strip() for h in htmls):
        plains, htmls = builder.tnef_plains, builder.tnef_htmls
    body_text = "\n\n".join(p.strip("\n") for p in plains if p.strip())
    html = "\n".join(h for h in htmls if h.strip())
    if html:
        result.body_html = sanitize(html)
        if not body_text.strip():
            body_text = html_to_text(html)
        for attachment in result.attachments:
            # Outlook sometimes puts images the HTML shows outside multipart/related.
            if attachment.content_id and f"cid:{attachment.content_id}" in html:
                attachment.inline = True
    result.body_text = body_text
    result.reply_text = extract_reply(body_text, end_marker)

    result.bounce_info = bounce_info(msg, result.from_address, result.subject, body_text)
    result.bounce = result.bounce_info is not None
    reason = auto_submitted_reason(headers)
    if reason is None and result.bounce:
        reason = "delivery status notification"
    if reason is None and result.from_address.startswith("mailer-daemon@"):
        reason = f"sender {result.from_address}"
    result.auto_submitted = reason is not None
    result.auto_submitted_reason = reason


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
    result.defects[:] = dict.fromkeys(result.defects)  # each repair once, in order
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
    result.defects[:] = dict.fromkeys(result.defects)
    return result
