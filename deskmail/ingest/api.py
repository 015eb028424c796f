"""The ingestion API: what the rest of deskmail calls to turn raw mail into tickets.

result = ingest(mailbox, raw, source=SourcePosition("imap", "INBOX", 7, "42"))
result.outcome  # Outcome.NEW_TICKET, APPENDED, DUPLICATE, EXCLUDED or QUARANTINED
"""

from __future__ import annotations

from deskmail.connectors.base import SourcePosition
from deskmail.ingest.engine import (
    IngestItem,
    IngestResult,
    dry_run,
    ingest,
    ingest_batch,
    ingest_many,
    ingest_once,
    ingest_stream,
)
from deskmail.ingest.types import Outcome, Verdict

__all__ = [
    "IngestItem",
    "IngestResult",
    "Outcome",
    "SourcePosition",
    "Verdict",
    "dry_run",
    "ingest",
    "ingest_batch",
    "ingest_many",
    "ingest_once",
    "ingest_stream",
]
