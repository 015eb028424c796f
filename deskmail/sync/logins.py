"""At most a few logins in flight per mail server, and the server's own cap of
sessions per account, from one worker.

A worker that takes hundreds of mailboxes on one server at once (its start, a
colleague's death, the server's restart) would otherwise open hundreds of
connections in the same second; a loaded server then answers some of them later
than their connect timeout, and those mailboxes count a failure and back off. A
login takes a slot of its server (host and port) until the session is open, so
the rest queue here instead of timing out there. Idle sessions hold no slot.

Servers also cap the sessions one account may have open: Gmail 15 per user,
Dovecot 10 per user and client address (`mail_max_userip_connections`), and a
POP3 server locks the maildrop for one session. Several mailboxes on one account
(each of its folders, say) would go over the cap and be refused at login, over
and over. A session holds a slot of its account (host, port and username) from
before its login to its close; a mailbox over the cap waits for one, with the
reason in its status. The cap is the inbound `max_sessions`, else the default
for the server (`default_max_sessions`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from deskmail.connectors.settings import InboundConfig
from deskmail.sync.slots import Slots

LOGINS_PER_SERVER = int(os.environ.get("DESKMAIL_LOGINS_PER_SERVER") or 10)
# Sessions per account, by what servers allow.
GMAIL_SESSIONS = 15
POP3_SESSIONS = 1
SESSIONS = 10

_servers: dict[str, Slots] = {}
_accounts: dict[tuple[str, int], Slots] = {}
_lock = threading.Lock()


def login_slot(inbound: InboundConfig, stop: Callable[[], bool]) -> AbstractContextManager[bool]:
    """A slot of the mailbox's server (IMAP, POP3); Graph and EWS bound their own requests."""
    if not inbound.host:
        return nullcontext(True)
    server = f"{inbound.host.lower()}:{inbound.port or ''}"
    with _lock:
        slots = _servers.setdefault(server, Slots(LOGINS_PER_SERVER))
    return slots.take(stop)


def default_max_sessions(inbound: InboundConfig) -> int:
    """What the server allows one account when the mailbox does not say."""
    if inbound.protocol == "pop3":
        return POP3_SESSIONS
    host = (inbound.host or "").lower()
    if host.endswith((".gmail.com", ".googlemail.com")):
        return GMAIL_SESSIONS
    return SESSIONS


def session_cap(inbound: InboundConfig) -> int:
    return inbound.max_sessions or default_max_sessions(inbound)


def account_of(inbound: InboundConfig) -> str:
    """The account a session logs in to: username at host and port."""
    user = (inbound.username or "").lower()
    return f"{user}@{(inbound.host or '').lower()}:{inbound.port or ''}"


def session_slot(
    inbound: InboundConfig, stop: Callable[[], bool], waiting: Callable[[str], None]
) -> AbstractContextManager[bool]:
    """A slot of the account's sessions, held while the session is open.

    `waiting(reason)` is called once if the cap is reached and this one must wait.
    Graph and EWS have no such cap here: they bound their own requests.
    """
    if not inbound.host:
        return nullcontext(True)
    cap, account = session_cap(inbound), account_of(inbound)
    with _lock:
        slots = _accounts.setdefault((account, cap), Slots(cap))
    reason = (
        f"waiting for a session: {cap} of this worker's sessions to {account} are open, "
        f"the server's limit (max_sessions {cap})"
    )
    return slots.take(stop, on_wait=lambda: waiting(reason))
