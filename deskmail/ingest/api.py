"""The ingestion API: one raw message in, a ticket (or a reasoned refusal) out.

    result = ingest(mailbox, raw, source=SourcePosition("imap", "INBOX", 7, "42"))

The raw bytes are stored first, content-addressed, so that nothing is lost
whatever happens next. The steps then run in one database transaction, and
`on_stored` is called inside it (a connector advances its checkpoint there,
so the checkpoint and the message commit together). A step that raises sends
the message to the quarantine; the mail after it flows on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from deskmail.ingest import batch as batch_mode
from deskmail.ingest import pipeline, store
from deskmail.ingest.context import Context
from deskmail.ingest.steps.dedupe import position_key
from deskmail.ingest.trace import Decision
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.blobs import sha256, store_raw
from deskmail.tickets.models import Message, Ticket

log = logging.getLogger(__name__)

Outcome = Literal["new_ticket", "appended", "duplicate", "excluded", "quarantined"]


@dataclass(frozen=True)
class SourcePosition:
    """Where a connector found a message; the same message has the same position every time."""

    kind: str  # imap, pop3, graph, ews, forward, import
    folder: str = ""
    uidvalidity: int | None = None
    uid: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> SourcePosition | None:
        return cls(**value) if value else None


@dataclass
class IngestResult:
    outcome: Outcome
    message: Message | None = None
    ticket: Ticket | None = None
    trace: list[Decision] = field(default_factory=list)
    error: str | None = None  # for "quarantined": what went wrong

    @property
    def is_new_ticket(self) -> bool:
        return self.outcome == "new_ticket"


@dataclass(frozen=True)
class IngestItem:
    """One message for `ingest_many`."""

    raw: bytes
    source: SourcePosition | None = None
    delivered_to: str | None = None


def _context(
    mailbox: Mailbox,
    raw: bytes,
    digest: str,
    *,
    source: SourcePosition | None,
    delivered_to: str | None,
    history: bool,
    dry_run: bool = False,
    cache: dict[str, Any] | None = None,
) -> Context:
    return Context(
        mailbox=mailbox,
        fetched_by=mailbox,
        raw=raw,
        sha256=digest,
        now=timezone.now(),
        source=source,
        delivered_to=delivered_to,
        history=history,
        dry_run=dry_run,
        cache=cache if cache is not None else {},
    )


def process(ctx: Context) -> IngestResult:
    """Run the steps and store the outcome, in the caller's transaction. May raise."""
    outcome = pipeline.run(ctx)
    message = store.save(ctx)
    return IngestResult(outcome, message, ctx.ticket, ctx.trace)  # type: ignore[arg-type]


class OnStoredFailed(Exception):
    """The caller's `on_stored` raised: nothing was stored, and that error is the caller's."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def ingest_once(
    mailbox: Mailbox,
    raw: bytes,
    digest: str,
    *,
    source: SourcePosition | None = None,
    delivered_to: str | None = None,
    history: bool = False,
    on_stored: Callable[[], None] | None = None,
) -> IngestResult:
    """One attempt in its own transaction; raises what a step raised (nothing is written)."""
    for attempt in (1, 2):
        ctx = _context(
            mailbox, raw, digest, source=source, delivered_to=delivered_to, history=history
        )
        try:
            with transaction.atomic():
                result = process(ctx)
                if on_stored is not None:
                    try:
                        on_stored()
                    except Exception as exc:
                        raise OnStoredFailed(exc) from exc
            return result
        except (IntegrityError, OperationalError):
            # Another worker stored the same Message-ID at the same moment (the
            # second attempt sees it and records a duplicate), or a deadlock with
            # an import batch holding the ticket counter, or SQLite was busy.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def ingest(
    mailbox: Mailbox,
    raw: bytes,
    *,
    source: SourcePosition | None = None,
    delivered_to: str | None = None,
    history: bool = False,
    on_stored: Callable[[], None] | None = None,
) -> IngestResult:
    """Store the raw message, run the pipeline, commit; a failure goes to the quarantine."""
    digest = store_raw(raw)
    try:
        return ingest_once(
            mailbox,
            raw,
            digest,
            source=source,
            delivered_to=delivered_to,
            history=history,
            on_stored=on_stored,
        )
    except OnStoredFailed as failed:
        # The source could not record its checkpoint: nothing is stored, and the
        # message will be fetched again. Not the message's fault: no quarantine.
        raise failed.error from None
    except Exception as exc:
        from deskmail.ingest import quarantine

        log.exception("ingest failed; message %s quarantined", digest[:12])
        with transaction.atomic():
            quarantine.record(
                mailbox, digest, source=source, delivered_to=delivered_to, history=history, exc=exc
            )
            if on_stored is not None:
                on_stored()
        reason = f"{type(exc).__name__}: {exc}"
        return IngestResult(
            "quarantined",
            trace=[Decision("quarantine", "quarantined", reason, {"sha256": digest})],
            error=reason,
        )


def dry_run(mailbox: Mailbox, raw: bytes) -> IngestResult:
    """Run every step as `ingest` would, then roll back: nothing is written."""
    ctx = _context(
        mailbox, raw, sha256(raw), source=None, delivered_to=None, history=False, dry_run=True
    )
    try:
        with transaction.atomic():
            try:
                outcome = pipeline.run(ctx)
            finally:
                transaction.set_rollback(True)
    except Exception as exc:  # noqa: BLE001 - reported, as ingest would quarantine it
        reason = f"{type(exc).__name__}: {exc}"
        ctx.trace.append(Decision("quarantine", "quarantined", reason))
        return IngestResult("quarantined", None, ctx.ticket, ctx.trace, error=reason)
    message = ctx.message  # a duplicate's stored message; otherwise nothing was stored
    return IngestResult(outcome, message, ctx.ticket, ctx.trace)  # type: ignore[arg-type]


def ingest_many(
    mailbox: Mailbox,
    items: Iterable[IngestItem | bytes | tuple[bytes, SourcePosition | None]],
    *,
    batch_size: int = 200,
    history: bool = True,
    on_batch: Callable[[list[IngestResult]], None] | None = None,
) -> list[IngestResult]:
    """Ingest many messages, one transaction per batch (fast imports).

    A batch in which any message fails is rolled back and run again one message
    at a time, so a poison message is quarantined and its neighbours stored.
    `on_batch` is called inside each batch's transaction with its results.
    `history` defaults to True: imports never queue acknowledgements.
    """
    results: list[IngestResult] = []
    batch: list[IngestItem] = []
    cache: dict[str, Any] = {}

    def flush() -> None:
        stored = [(item, store_raw(item.raw)) for item in batch]
        try:
            with transaction.atomic():
                cache["batch"] = state = batch_mode.prepare(
                    mailbox,
                    [(item.raw, digest, position_key(item.source)) for item, digest in stored],
                )
                done = [
                    process(
                        _context(
                            mailbox,
                            item.raw,
                            digest,
                            source=item.source,
                            delivered_to=item.delivered_to,
                            history=history,
                            cache=cache,
                        )
                    )
                    for item, digest in stored
                ]
                state.flush()
                if on_batch is not None:
                    on_batch(done)
        except Exception:  # noqa: BLE001 - the batch is retried message by message
            log.warning("a batch of %d failed; ingesting one by one", len(stored))
            cache.clear()
            done = [
                ingest(
                    mailbox,
                    item.raw,
                    source=item.source,
                    delivered_to=item.delivered_to,
                    history=history,
                )
                for item, _ in stored
            ]
            if on_batch is not None:
                with transaction.atomic():
                    on_batch(done)
        finally:
            cache.pop("batch", None)
        results.extend(done)
        batch.clear()

    for entry in items:
        if isinstance(entry, bytes):
            entry = IngestItem(entry)
        elif isinstance(entry, tuple):
            entry = IngestItem(*entry)
        batch.append(entry)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return results
