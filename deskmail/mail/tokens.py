"""Our Message-IDs carry a signed ticket token: `<dm.T1234.R5f3a9c0e21bd.SIG@example.com>`.

T is the ticket number, R a random part (every mail is unique), SIG an HMAC of
both under the installation's secret. Any later mail whose In-Reply-To or
References holds one of our IDs can be matched to its ticket even when the
subject was rewritten and our stored message is unknown (another database, a
restored backup, a mail client that dropped In-Reply-To but kept References).
The signature stops anyone from steering mail into a ticket by guessing IDs.

A second kind names a task (`<dm.K12.R5f3a9c0e21bd.SIG@example.com>`: task 12),
for the mail that asks a colleague or an outside person to do something about a
ticket; replies to it belong to the task, not to the customer's thread. Its
signature covers the letter K too, so a ticket token can never be read as a task
token or the other way round, and ticket tokens are signed exactly as before.

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
_TASK_TOKEN = re.compile(
    r"^<?dm\.k(?P<number>\d{1,18})\.r(?P<nonce>[0-9a-f]{8,32})\.(?P<sig>[0-9a-f]{16})@[^<>@\s]+>?$"
)


class MessageIdTokens:
    """Makes and reads signed Message-IDs under one secret."""

    def __init__(self, secret: str | bytes) -> None:
        secret_bytes = secret.encode() if isinstance(secret, str) else secret
        self._key = hashlib.sha256(SALT.encode() + secret_bytes).digest()

    def __repr__(self) -> str:
        return "MessageIdTokens(<secret>)"

    def _signature(self, number: int, nonce: str, kind: str = "T") -> str:
        digest = hmac.new(self._key, f"{kind}{number}.R{nonce}".encode(), hashlib.sha256)
        return digest.hexdigest()[:_SIG_LENGTH]

    def _new(self, kind: str, number: int, mailbox_address: str) -> str:
        nonce = secrets.token_hex(6)
        domain = mailbox_address.rpartition("@")[2].lower() or "deskmail.invalid"
        signature = self._signature(number, nonce, kind)
        return f"dm.{kind}{number}.R{nonce}.{signature}@{domain}"

    def _read(self, pattern: re.Pattern[str], kind: str, message_id: str) -> int | None:
        match = pattern.match((message_id or "").strip().lower())
        if match is None:
            return None
        number = int(match["number"])
        expected = self._signature(number, match["nonce"], kind)
        if not hmac.compare_digest(expected, match["sig"]):
            return None
        return number

    def new_message_id(self, ticket_number: int, mailbox_address: str) -> str:
        """A fresh Message-ID (no angle brackets) in the mailbox's domain, naming the ticket."""
        return self._new("T", ticket_number, mailbox_address)

    def new_task_message_id(self, task_id: int, mailbox_address: str) -> str:
        """A fresh Message-ID (no angle brackets) in the mailbox's domain, naming the task."""
        return self._new("K", task_id, mailbox_address)

    def task_of(self, message_id: str) -> int | None:
        """The task id our signed task Message-ID names, or None (not ours, forged, a ticket's)."""
        return self._read(_TASK_TOKEN, "K", message_id)

    def task_of_references(self, message_ids: Iterable[str]) -> int | None:
        """The task named by the newest of our task tokens among message_ids."""
        for message_id in reversed(list(message_ids)):
            task = self.task_of(message_id)
            if task is not None:
                return task
        return None

    def ticket_of(self, message_id: str) -> int | None:
        """The ticket number our signed Message-ID names, or None (not ours, or forged)."""
        return self._read(_TOKEN, "T", message_id)

    def ticket_of_references(self, message_ids: Iterable[str]) -> int | None:
        """The ticket named by the newest of our tokens among message_ids (References order)."""
        for message_id in reversed(list(message_ids)):
            number = self.ticket_of(message_id)
            if number is not None:
                return number
        return None
