"""Our Message-IDs carry a signed ticket token: `<dm.T1234.R5f3a9c0e21bd.SIG@example.com>`.

T is the ticket number, R a random part (every mail is unique), SIG an HMAC of
both under the installation's secret. Any later mail whose In-Reply-To or
References holds one of our IDs can be matched to its ticket even when the
subject was rewritten and our stored message is unknown (another database, a
restored backup, a mail client that dropped In-Reply-To but kept References).
The signature stops anyone from steering mail into a ticket by guessing IDs.

Pure: the secret is given, never read from settings. The HMAC is computed the
way Django's `salted_hmac(salt, value, secret, algorithm="sha256")` computes
it, so IDs written before this module existed keep their meaning.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

SALT = "deskmail.outbound.tokens"
_SIG_LENGTH = 16
_TOKEN = re.compile(
    r"^<?dm\.t(?P<number>\d{1,18})\.r(?P<nonce>[0-9a-f]{8,32})\.(?P<sig>[0-9a-f]{16})@[^<>@\s]+>?$"
)


class MessageIdTokens:
    """Makes and reads signed Message-IDs under one secret."""

    def __init__(self, secret: str | bytes) -> None:
        secret_bytes = secret.encode() if isinstance(secret, str) else secret
        self._key = hashlib.sha256(SALT.encode() + secret_bytes).digest()

    def __repr__(self) -> str:
        return "MessageIdTokens(<secret>)"

    def _signature(self, number: int, nonce: str) -> str:
        digest = hmac.new(self._key, f"T{number}.R{nonce}".encode(), hashlib.sha256)
        return digest.hexdigest()[:_SIG_LENGTH]

    def new_message_id(self, ticket_number: int, mailbox_address: str) -> str:
        """A fresh Message-ID (no angle brackets) in the mailbox's domain, naming the ticket."""
        nonce = secrets.token_hex(6)
        domain = mailbox_address.rpartition("@")[2].lower() or "deskmail.invalid"
        signature = self._signature(ticket_number, nonce)
        return f"dm.T{ticket_number}.R{nonce}.{signature}@{domain}"

    def ticket_of(self, message_id: str) -> int | None:
        """The ticket number our signed Message-ID names, or None (not ours, or forged)."""
        match = _TOKEN.match((message_id or "").strip().lower())
        if match is None:
            return None
        number = int(match["number"])
        if not hmac.compare_digest(self._signature(number, match["nonce"]), match["sig"]):
            return None
        return number

    def ticket_of_references(self, message_ids: Iterable[str]) -> int | None:
        """The ticket named by the newest of our tokens among message_ids (References order)."""
        for message_id in reversed(list(message_ids)):
            number = self.ticket_of(message_id)
            if number is not None:
                return number
        return None
