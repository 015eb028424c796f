"""What runs inside a parsing process: no Django, nothing but the parser (and the
writing of the raw bytes it is given, so that those writes use the other cores too).

(`deskmail.ingest.parsing` runs these processes; this is the module they import.)
"""

from __future__ import annotations

import resource
from multiprocessing.connection import Connection
from pathlib import Path

from deskmail.core.files import write_file_once
from deskmail.mail import ParsedMessage, parse_bytes

READY = "ready"
MEMORY = "memory"


def limit_memory(megabytes: int) -> None:
    """The address space the process may use (its RLIMIT_AS)."""
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def parse(raw: bytes, end_marker: str | None) -> ParsedMessage | str:
    """The parsed message, or MEMORY when it ran out of memory."""
    try:
        return parse_bytes(raw, end_marker=end_marker)
    except MemoryError:
        return MEMORY


def keep(raw: bytes, path: str | None, mode: int | None) -> bool:
    """Write the raw bytes to path (once); False when that failed (the caller retries
    and reports why: this process has no way to tell an operator)."""
    if path is None:
        return True
    try:
        write_file_once(Path(path), raw, mode)
    except OSError:
        return False
    return True


def serve(connection: Connection, megabytes: int) -> None:
    """Parse what comes over the connection until it sends None or closes.

    A task is (raw, end_marker, path, mode): the raw bytes are written to path
    first when it is given. The answer is (written, the parsed message or MEMORY).
    """
    limit_memory(megabytes)
    connection.send(READY)
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        raw, end_marker, path, mode = task
        written = keep(raw, path, mode)
        connection.send((written, parse(raw, end_marker)))
