"""At most a few logins in flight per mail server from one worker.

A worker that takes hundreds of mailboxes on one server at once (its start, a
colleague's death, the server's restart) would otherwise open hundreds of
connections in the same second; a loaded server then answers some of them later
than their connect timeout, and those mailboxes count a failure and back off. A
login takes a slot of its server (host and port) until the session is open, so
the rest queue here instead of timing out there. Idle sessions hold no slot.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from deskmail.connectors.settings import InboundConfig
from deskmail.sync.slots import Slots

LOGINS_PER_SERVER = int(os.environ.get("DESKMAIL_LOGINS_PER_SERVER") or 10)

_servers: dict[str, Slots] = {}
_lock = threading.Lock()


def login_slot(inbound: InboundConfig, stop: Callable[[], bool]) -> AbstractContextManager[bool]:
    """A slot of the mailbox's server (IMAP, POP3); Graph and EWS bound their own requests."""
    if not inbound.host:
        return nullcontext(True)
    server = f"{inbound.host.lower()}:{inbound.port or ''}"
    with _lock:
        slots = _servers.setdefault(server, Slots(LOGINS_PER_SERVER))
    return slots.take(stop)
