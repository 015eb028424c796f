"""Our Message-IDs carry a signed ticket token: `<dm.T1234.R5f3a9c0e21bd.SIG@example.com>`.

T is the ticket number, R a random part (every mail is unique), SIG an HMAC of
both under settings.SECRET_KEY. Any later mail whose In-Reply-To or References
holds one of our IDs can be matched to its ticket even when the subject was
rewritten and our stored message is unknown (another deskmail database, a
restored backup, a mail client that dropped In-Reply-To but kept References).
The signature stops anyone from steering mail into a ticket by guessing IDs.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "deskmail.outbound.tokens"
_SIG_LENGTH = 16
_TOKEN = re.compile(
    r"^<?dm\.t(?P<number>\d{1,18})\.r(?P<nonce>[0-9a-f]{8,32})\.(?P<sig>[0-9a-f]{16})@[^<>@\s]+>?$"
)


def _signature(number: int, nonce: str) -> str:
    return salted_hmac(_SALT, f"T{number}.R{nonce}", algorithm="sha256").hexdigest()[:_SIG_LENGTH]


def new_message_id(ticket_number: int, mailbox_address: str) -> str:
    """A fresh Message-ID (no angle brackets) in the mailbox's domain, naming the ticket."""
    nonce = secrets.token_hex(6)
    domain = mailbox_address.rpartition("@")[2].lower() or "deskmail.invalid"
    return f"dm.T{ticket_number}.R{nonce}.{_signature(ticket_number, nonce)}@{domain}"


def ticket_from_token(message_id: str) -> int | None:
    """The ticket number our signed Message-ID names, or None (not ours, or forged)."""
    match = _TOKEN.match((message_id or "").strip().lower())
    if match is None:
        return None
    number = int(match["number"])
    if not constant_time_compare(_signature(number, match["nonce"]), match["sig"]):
        return None
    return number


def ticket_from_references(message_ids: Iterable[str]) -> int | None:
    """The ticket named by the newest of our tokens among message_ids (References order)."""
    for message_id in reversed(list(message_ids)):
        number = ticket_from_token(message_id)
        if number is not None:
            return number
    return None
