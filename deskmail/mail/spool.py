"""Stream a large message once, writing attachment bodies to files as they are decoded.

What is left, the skeleton, is the message with every non-text leaf body
replaced by a marker header naming its spooled file; it is small and is then
parsed like any other message. Memory stays flat however large the attachments.
"""

from __future__ import annotations

import binascii
import email.parser
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import BinaryIO

_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_HEADER_PARSER = email.parser.BytesHeaderParser(policy=policy.compat32)


@dataclass(slots=True)
class SpooledFile:
    path: str
    size: int
    sha256: str


class _Writer:
    """Decodes one body line by line into a temporary file, hashing as it goes."""

    def __init__(self, directory: Path, cte: str) -> None:
        self.directory = directory
        self.cte = cte
        self.tmp = directory / f".spool-{secrets.token_hex(8)}.part"
        self.handle: BinaryIO = open(self.tmp, "wb")  # noqa: SIM115 - closed in finish()
        self.hash = hashlib.sha256()
        self.size = 0
        self.pending = b""
        self.held = b""  # a line break that may turn out to belong to the next boundary

    def _emit(self, data: bytes) -> None:
        if data:
            self.handle.write(data)
            self.hash.update(data)
            self.size += len(data)

    def feed(self, line: bytes) -> None:
        if self.cte == "base64":
            self.pending += _BASE64_JUNK.sub(b"", line)
            usable = len(self.pending) - len(self.pending) % 4
            if usable >= 4096:
                self._emit(binascii.a2b_base64(self.pending[:usable]))
                self.pending = self.pending[usable:]
            return
        content = _strip_eol(line)
        eol = line[len(content) :]
        if self.cte == "quoted-printable":
            soft = content.rstrip(b" \t").endswith(b"=")
            if soft:
                content = content.rstrip(b" \t")[:-1]
            self._emit(self.held + binascii.a2b_qp(content))
            self.held = b"" if soft else eol
        else:
            self._emit(self.held + content)
            self.held = eol

    def finish(self) -> SpooledFile:
        if self.cte == "base64" and self.pending:
            usable = len(self.pending) - len(self.pending) % 4
            data = self.pending[:usable]
            rest = self.pending[usable:]
            if len(rest) >= 2:
                data += rest + b"=" * (-len(rest) % 4)
            try:
                self._emit(binascii.a2b_base64(data))
            except binascii.Error:
                pass
        self.handle.close()
        digest = self.hash.hexdigest()
        final = self.directory / digest
        os.replace(self.tmp, final)
        return SpooledFile(path=str(final), size=self.size, sha256=digest)

    def abandon(self) -> None:
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


def _strip_eol(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


def _delimits(marker: bytes, boundary: bytes) -> bool:
    return marker in (b"--" + boundary, b"--" + boundary + b"--")


def read_lines(handle: BinaryIO, limit: int = 1 << 16) -> Iterable[bytes]:
    """Lines of at most `limit` bytes, so a body without line breaks cannot fill memory."""
    return iter(lambda: handle.readline(limit), b"")


class Spooler:
    """Split a message stream into a skeleton and spooled attachment files."""

    def __init__(self, sink_dir: Path) -> None:
        self.sink_dir = sink_dir
        self.header_name = f"X-Deskmail-Spool-{secrets.token_hex(8)}"
        self.files: dict[str, SpooledFile] = {}
        self._pending_header_at = 0  # where the marker header of the open part goes

    def run(self, lines: Iterable[bytes]) -> bytes:
        out: list[bytes] = []
        boundaries: list[bytes] = []
        header_lines: list[bytes] = []
        in_headers = True
        writer: _Writer | None = None
        last_eol = b"\n"
        try:
            for line in lines:
                if boundaries and line.startswith(b"--"):
                    marker = _strip_eol(line).rstrip()
                    matched = next((b for b in reversed(boundaries) if _delimits(marker, b)), None)
                    if matched is not None:
                        if writer is not None:
                            self._close(writer, out, last_eol)
                            writer = None
                        if in_headers and header_lines:  # a part with headers only
                            out.extend(header_lines)
                            header_lines = []
                        while boundaries and boundaries[-1] != matched:
                            boundaries.pop()
                        if marker.endswith(b"--") and marker == b"--" + matched + b"--":
                            boundaries.pop()
                            in_headers = False
                        else:
                            in_headers = True
                        out.append(line)
                        continue
                if in_headers:
                    header_lines.append(line)
                    if _strip_eol(line) == b"":
                        in_headers = False
                        writer = self._start(header_lines, out, boundaries)
                        header_lines = []
                    continue
                if writer is not None:
                    writer.feed(line)
                    last_eol = line[len(_strip_eol(line)) :] or last_eol
                else:
                    out.append(line)
            if writer is not None:
                self._close(writer, out, last_eol)
                writer = None
            out.extend(header_lines)
        finally:
            if writer is not None:
                writer.abandon()
        return b"".join(out)

    def _start(
        self, header_lines: list[bytes], out: list[bytes], boundaries: list[bytes]
    ) -> _Writer | None:
        """Copy a part's headers to the skeleton; a writer when its body is to be spooled."""
        block = b"".join(header_lines)
        headers = _HEADER_PARSER.parsebytes(block)
        maintype = headers.get_content_maintype()
        if maintype == "multipart":
            boundary = headers.get_boundary()
            out.append(block)
            if boundary:
                boundaries.append(boundary.encode("utf-8", "surrogateescape"))
            return None
        cte = str(headers.get("content-transfer-encoding", "")).strip().lower()
        if maintype in ("text", "message") or cte not in (
            "base64", "quoted-printable", "7bit", "8bit", "binary", ""
        ):  # fmt: skip
            out.append(block)
            return None
        body_start = len(block) - len(header_lines[-1])
        out.append(block[:body_start])
        self._pending_header_at = len(out)
        out.append(b"")  # replaced by the marker header in _close
        out.append(header_lines[-1])
        return _Writer(self.sink_dir, cte)

    def _close(self, writer: _Writer, out: list[bytes], eol: bytes) -> None:
        spooled = writer.finish()
        key = str(len(self.files) + 1)
        self.files[key] = spooled
        out[self._pending_header_at] = f"{self.header_name}: {key}".encode() + b"\r\n"
        out.append(eol)  # the line break that belongs to the next boundary
