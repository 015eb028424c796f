"""What runs inside a parsing process: no Django, nothing but the parser.

(`deskmail.ingest.parsing` runs these processes; this is the module they import.)
"""

from __future__ import annotations

import resource
from multiprocessing.connection import Connection

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


def serve(connection: Connection, megabytes: int) -> None:
    """Parse what comes over the connection until it sends None or closes."""
    limit_memory(megabytes)
    connection.send(READY)
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        raw, end_marker = task
        connection.send(parse(raw, end_marker))
