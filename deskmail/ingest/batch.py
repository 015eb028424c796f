"""Batch mode for `ingest_many`: look things up once per batch, write small rows once.

Before a batch runs, one query finds which of its Message-IDs and source
positions are already stored; the dedupe step then skips its own queries for
the ones known to be absent. Deliveries and reference rows are collected and
inserted together, and flushed before anything reads those tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from deskmail.ingest.steps.parse import synthetic_message_id
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.models import Delivery, Message, MessageReference

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^>\s]+)>?", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _head(raw: bytes) -> bytes:
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


@dataclass
class Batch:
    absent_ids: set[str] = field(default_factory=set)
    absent_positions: set[tuple[str, str]] = field(default_factory=set)  # (source key, sha256)
    deliveries: list[Delivery] = field(default_factory=list)
    references: list[MessageReference] = field(default_factory=list)

    def flush(self) -> None:
        """Insert the collected rows; call before reading deliveries or references."""
        if self.deliveries:
            Delivery.objects.bulk_create(self.deliveries)
            self.deliveries.clear()
        if self.references:
            MessageReference.objects.bulk_create(self.references)
            self.references.clear()

    def stored(self, message_id: str, position: tuple[str, str]) -> None:
        """A message of this batch is stored: it is no longer absent."""
        self.absent_ids.discard(message_id)
        self.absent_positions.discard(position)


def prepare(mailbox: Mailbox, items: Iterable[tuple[bytes, str, str]]) -> Batch:
    """Look up, once, which of (raw, sha256, source key) are already stored."""
    items = list(items)
    ids: set[str] = set()
    for raw, digest, _ in items:
        ids.add(synthetic_message_id(digest))
        match = _MESSAGE_ID.search(_head(raw))
        if match:
            ids.add(match.group(1).decode("ascii", "replace"))
    known = set(Message.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
    positions = {(key, digest) for _, digest, key in items if key}
    seen = set(
        Delivery.objects.filter(
            mailbox=mailbox, source_key__in={key for key, _ in positions}
        ).values_list("source_key", "raw_sha256")
    )
    return Batch(absent_ids=ids - known, absent_positions=positions - seen)
