"""Readers for mail archives: .eml files, mbox files, Maildir folders and directories of them.

Each reader yields one `ArchiveMessage` at a time, the raw bytes as they are
stored plus a position that names the same message on every run (the file's
folder and name, an mbox's path and message number, a Maildir's path and the
unique part of the file name). Positions are what makes a second import of
the same archive add nothing.

Nothing here loads a whole archive: an mbox is read line by line and a
message is held in memory only until it is yielded. A file that cannot be
read is reported through `on_error` and the reading goes on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deskmail.connectors.base import SourcePosition

ErrorHandler = Callable[[str, str], None]
"""Called with (where, what went wrong) for every item that could not be read."""

SOURCE_KIND = "import"

# mboxrd quoting: a body line "From ..." is written as ">From ...", and ">From" as ">>From".
_QUOTED_FROM = re.compile(rb"^>+From ")
# The envelope line an mbox writer puts before each message: "From sender Mon Jan  1 ...".
_ENVELOPE = re.compile(rb"^From \S+ +\w{3} \w{3} +\d{1,2} \d{1,2}:\d{2}")
# The first line of a message file: a header field name and a colon (RFC 5322 ftext).
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
_MAILDIR_SUBDIRS = ("cur", "new")
_SNIFF_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ArchiveMessage:
    """One message read from an archive: its bytes and where it was found."""

    raw: bytes
    folder: str  # absolute path of the directory, mbox file or Maildir
    uid: str  # file name, message number in an mbox, or Maildir unique name

    @property
    def position(self) -> SourcePosition:
        return SourcePosition(kind=SOURCE_KIND, folder=self.folder, uid=self.uid)


def _ignore(where: str, error: str) -> None:
    return None


def is_maildir(path: Path) -> bool:
    """A Maildir has cur/ and new/ (tmp/ holds deliveries in progress and is never read)."""
    return all((path / sub).is_dir() for sub in _MAILDIR_SUBDIRS)


def sniff(path: Path) -> str | None:
    """What a file holds: "mbox", "eml" or None when it looks like neither.

    A name ending in .eml is a message whatever it starts with; otherwise an
    mbox starts with its "From " envelope line and a message with a header.
    """
    if path.suffix.lower() == ".eml":
        return "eml"
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES).lstrip(b"\r\n")
    if head.startswith(b"From "):
        return "mbox"
    if path.suffix.lower() == ".mbox":
        return "mbox"
    if _HEADER_LINE.match(head):
        return "eml"
    return None


def read_eml(path: Path, on_error: ErrorHandler = _ignore) -> Iterator[ArchiveMessage]:
    """One .eml file: one message, positioned by its folder and file name."""
    path = path.absolute()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        on_error(str(path), _os_error(exc))
        return
    yield ArchiveMessage(raw=raw, folder=str(path.parent), uid=path.name)


def read_mbox(path: Path, on_error: ErrorHandler = _ignore) -> Iterator[ArchiveMessage]:
    """The messages of an mbox file, streamed, numbered from 1 in file order.

    A line "From " starts a message when it opens the file, follows a blank
    line, or looks like an envelope line ("From addr Mon Jan  1 00:00:00
    2026"); any other is body text written by a careless writer. The envelope
    line itself is not part of the message. Quoted lines (">From ",
    ">>From ") lose one ">", as mboxrd prescribes; mboxo writers only ever
    quote "From " lines, which this restores as well.
    """
    path = path.absolute()
    folder = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        on_error(folder, _os_error(exc))
        return
    number = 0
    lines: list[bytes] | None = None  # None until the first envelope line
    previous_blank = True
    try:
        with handle:
            for line in handle:
                if line.startswith(b"From ") and (previous_blank or _ENVELOPE.match(line)):
                    if lines is not None:
                        number += 1
                        yield ArchiveMessage(_join(lines), folder, str(number))
                    lines = []
                    previous_blank = False
                    continue
                previous_blank = line in (b"\n", b"\r\n")
                if lines is None:
                    # Text before the first envelope line: not an mbox message.
                    continue
                if line.startswith(b">") and _QUOTED_FROM.match(line):
                    line = line[1:]
                lines.append(line)
    except OSError as exc:
        on_error(f"{folder} (after message {number})", _os_error(exc))
        return
    if lines is not None:
        number += 1
        yield ArchiveMessage(_join(lines), folder, str(number))


def _join(lines: list[bytes]) -> bytes:
    # The blank line before the next envelope line belongs to the mbox, not the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()
    return b"".join(lines)


def maildir_uid(name: str) -> str:
    """The unique part of a Maildir file name: flags (":2,S") change, it does not.

    Windows-friendly writers use "!" or ";" in place of ":".
    """
    for separator in (":", "!", ";"):
        if separator in name:
            return name.split(separator, 1)[0]
    return name


def read_maildir(path: Path, on_error: ErrorHandler = _ignore) -> Iterator[ArchiveMessage]:
    """The messages in new/ and cur/ of one Maildir, in file-name order (delivery order)."""
    path = path.absolute()
    folder = str(path)
    # Names only (not Path objects): a Maildir can hold a million files.
    entries: list[tuple[str, str, str]] = []
    for sub in _MAILDIR_SUBDIRS:
        try:
            with os.scandir(path / sub) as listing:
                entries.extend(
                    (maildir_uid(e.name), sub, e.name)
                    for e in listing
                    if not e.name.startswith(".")
                )
        except OSError as exc:
            on_error(str(path / sub), _os_error(exc))
    entries.sort()
    for uid, sub, name in entries:
        entry = path / sub / name
        try:
            raw = entry.read_bytes()
        except OSError as exc:
            on_error(str(entry), _os_error(exc))
            continue
        yield ArchiveMessage(raw=raw, folder=folder, uid=uid)


def read_directory(path: Path, on_error: ErrorHandler = _ignore) -> Iterator[ArchiveMessage]:
    """Everything under a directory: Maildirs (and their Maildir++ subfolders), mbox and .eml.

    Hidden files are skipped; files that are neither mbox nor message are
    skipped silently (indexes, notes), so a mail program's whole folder can
    be imported as it is.
    """
    path = path.absolute()
    if is_maildir(path):
        yield from read_maildir(path, on_error)
        # Maildir++ keeps subfolders as hidden Maildirs beside cur/new/tmp.
        children = _children(path, on_error)
        for child in children:
            if child.name.startswith(".") and child.is_dir() and is_maildir(child):
                yield from read_maildir(child, on_error)
        return
    for child in _children(path, on_error):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            yield from read_directory(child, on_error)
        elif child.is_file():
            yield from read_file(child, on_error, silent_unknown=True)


def _children(path: Path, on_error: ErrorHandler) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except OSError as exc:
        on_error(str(path), _os_error(exc))
        return []


def read_file(
    path: Path, on_error: ErrorHandler = _ignore, *, silent_unknown: bool = False
) -> Iterator[ArchiveMessage]:
    """A single file: an mbox or one message, told apart by `sniff`."""
    try:
        kind = sniff(path)
    except OSError as exc:
        on_error(str(path.absolute()), _os_error(exc))
        return
    if kind == "mbox":
        yield from read_mbox(path, on_error)
    elif kind == "eml":
        yield from read_eml(path, on_error)
    elif not silent_unknown:
        on_error(str(path.absolute()), "neither an mbox file nor an email message")


def read_archives(
    paths: Iterable[str | os.PathLike[str]], on_error: ErrorHandler = _ignore
) -> Iterator[ArchiveMessage]:
    """Every message under the given paths, in a stable order."""
    for item in paths:
        path = Path(item)
        if path.is_dir():
            yield from read_directory(path, on_error)
        elif path.exists():
            yield from read_file(path, on_error)
        else:
            on_error(str(path.absolute()), "no such file or directory")


def _os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)
