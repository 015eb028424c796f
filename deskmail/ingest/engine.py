"""The engine: one raw message in, a ticket (or a reasoned refusal) out, in one transaction.

The raw bytes are stored first, content-addressed, so that nothing is lost
whatever happens next. The steps then run in one database transaction, and
`on_stored` is called inside it (a caller records how far its source got
there, so the two commit together). A step that raises sends the message to
the quarantine; the mail after it flows on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import batched
from pathlib import Path

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from deskmail.connectors.base import SourcePosition
from deskmail.ingest import confirmation, parsing, pipeline, record
from deskmail.ingest.batch import BatchStore, stored_positions
from deskmail.ingest.context import Context
from deskmail.ingest.models import QuarantinedMessage
from deskmail.ingest.store import LiveStore, Store
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Outcome, OverBudget, Verdict
from deskmail.mail import ParsedMessage
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.blobs import raw_path, sha256, store_raw
from deskmail.tickets.models import Message, Ticket

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    outcome: Outcome
    message: Message | None = None
    ticket: Ticket | None = None
    trace: list[Decision] = field(default_factory=list)
    error: str | None = None  # for a quarantined message: what went wrong

    @property
    def is_new_ticket(self) -> bool:
        return self.outcome == Outcome.NEW_TICKET


@dataclass(frozen=True)
class IngestItem:
    """One message for `ingest_many`; sha256 when the raw store holds its bytes already."""

    raw: bytes
    source: SourcePosition | None = None
    delivered_to: str | None = None
    sha256: str = ""


def _context(
    mailbox: Mailbox,
    raw: bytes,
    digest: str,
    store: Store,
    *,
    source: SourcePosition | None,
    delivered_to: str | None,
    history: bool,
    dry_run: bool = False,
) -> Context:
    return Context(
        mailbox=mailbox,
        fetched_by=mailbox,
        raw=raw,
        sha256=digest,
        now=timezone.now(),
        store=store,
        source=source,
        delivered_to=delivered_to,
        history=history,
        dry_run=dry_run,
    )


def process(ctx: Context) -> IngestResult:
    """Run the steps and record the outcome, in the caller's transaction. May raise."""
    outcome = pipeline.run(ctx)
    message = record.save(ctx)
    if ctx.released and ctx.ticket is not None:
        confirmation.release(ctx.ticket, ctx.released, ctx.now)
    return IngestResult(outcome, message, ctx.ticket, ctx.trace)


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
            mailbox,
            raw,
            digest,
            LiveStore(),
            source=source,
            delivered_to=delivered_to,
            history=history,
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


def quarantined(
    mailbox: Mailbox,
    raw: bytes,
    digest: str,
    exc: BaseException,
    *,
    source: SourcePosition | None,
    delivered_to: str | None,
    history: bool,
    on_stored: Callable[[], None] | None = None,
) -> IngestResult:
    """Keep a message a step failed on, with the error; the source moves past it all the same."""
    log.warning("message %s quarantined: %s: %s", digest[:12], type(exc).__name__, exc)
    with transaction.atomic():
        QuarantinedMessage.keep(
            mailbox,
            raw,
            digest,
            source=source.to_json() if source is not None else {},
            delivered_to=delivered_to,
            history=history,
            exc=exc,
        )
        if on_stored is not None:
            on_stored()
    reason = f"{type(exc).__name__}: {exc}"
    return IngestResult(
        Outcome.QUARANTINED,
        trace=[Decision("quarantine", Verdict.QUARANTINED, reason, {"sha256": digest})],
        error=reason,
    )


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
    return ingest_stored(
        mailbox,
        raw,
        store_raw(raw),
        source=source,
        delivered_to=delivered_to,
        history=history,
        on_stored=on_stored,
    )


def ingest_stored(
    mailbox: Mailbox,
    raw: bytes,
    digest: str,
    *,
    source: SourcePosition | None = None,
    delivered_to: str | None = None,
    history: bool = False,
    on_stored: Callable[[], None] | None = None,
) -> IngestResult:
    """`ingest` for bytes already in the raw store under digest."""
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
        # The source could not record its progress: nothing is stored, and the
        # message will be offered again. Not the message's fault: no quarantine.
        raise failed.error from None
    except (OperationalError, InterfaceError):
        # The database is away (or a deadlock outlived the retry): not the message's
        # fault either. Nothing is stored; the caller tries again later.
        raise
    except Exception as exc:  # noqa: BLE001 - kept in the quarantine, never lost
        return quarantined(
            mailbox,
            raw,
            digest,
            exc,
            source=source,
            delivered_to=delivered_to,
            history=history,
            on_stored=on_stored,
        )


def dry_run(mailbox: Mailbox, raw: bytes) -> IngestResult:
    """Run every step as `ingest` would, then roll back: nothing is written."""
    ctx = _context(
        mailbox,
        raw,
        sha256(raw),
        LiveStore(),
        source=None,
        delivered_to=None,
        history=False,
        dry_run=True,
    )
    try:
        with transaction.atomic():
            try:
                outcome = pipeline.run(ctx)
            finally:
                transaction.set_rollback(True)
    except Exception as exc:  # noqa: BLE001 - reported, as ingest would quarantine it
        reason = f"{type(exc).__name__}: {exc}"
        ctx.trace.append(Decision("quarantine", Verdict.QUARANTINED, reason))
        return IngestResult(Outcome.QUARANTINED, None, ctx.ticket, ctx.trace, error=reason)
    message = ctx.message  # a duplicate's stored message; otherwise nothing was stored
    return IngestResult(outcome, message, ctx.ticket, ctx.trace)


def _as_item(entry: IngestItem | bytes | tuple[bytes, SourcePosition | None]) -> IngestItem:
    if isinstance(entry, bytes):
        return IngestItem(entry)
    if isinstance(entry, tuple):
        return IngestItem(*entry)
    return entry


OnStored = Callable[[list[IngestItem], list[IngestResult]], None]
"""Called inside a batch's transaction with the batch and its results."""


@dataclass
class _Prepared:
    """A batch whose raw bytes are stored and whose messages are parsed.

    A message stored before from the same source position is neither stored
    nor parsed again (None): the first step recognises it.
    """

    items: list[IngestItem]
    digests: list[str]
    parsed: list[ParsedMessage | OverBudget | None]


def _prepare(
    batch: list[IngestItem], end_marker: str | None, stored: frozenset[int] = frozenset()
) -> _Prepared:
    """Store the raw bytes (unless they are) and parse, in parallel.

    `stored` holds the indexes of messages stored before from their position.
    The parsing processes write each message's raw file just before they parse
    it. No database work: `ingest_stream` runs this for the next batch in a
    helper thread while the current batch's steps run.
    """
    digests = [item.sha256 or sha256(item.raw) for item in batch]
    fresh = [index for index in range(len(batch)) if index not in stored]
    keep_at = [None if batch[i].sha256 else _raw_place(batch[i].raw, digests[i]) for i in fresh]
    parsed: list[ParsedMessage | OverBudget | None] = [None] * len(batch)
    for index, result in zip(
        fresh,
        parsing.parse_many([batch[i].raw for i in fresh], end_marker, keep_at),
        strict=True,
    ):
        parsed[index] = result
    return _Prepared(batch, digests, parsed)


def _raw_place(raw: bytes, digest: str) -> Path | None:
    """Where a parsing process is to write the raw bytes; None once they are stored
    here (a raw store that is not a local folder)."""
    place = raw_path(digest)
    if place is None:
        store_raw(raw)
    return place


def _stored_before(mailbox: Mailbox, batch: list[IngestItem]) -> frozenset[int]:
    """The indexes of the batch's messages stored before from the same source position."""
    positions = [
        (item.source.key(), item.sha256 or sha256(item.raw)) if item.source is not None else None
        for item in batch
    ]
    known = stored_positions(mailbox, [p for p in positions if p is not None])
    return frozenset(index for index, p in enumerate(positions) if p is not None and p in known)


def ingest_batch(
    mailbox: Mailbox,
    batch: list[IngestItem],
    *,
    history: bool = True,
    on_batch: Callable[[list[IngestResult]], None] | None = None,
) -> list[IngestResult]:
    """Ingest messages in one transaction with a batch store (a fast import).

    The messages are parsed first, in parallel, each within the parsing budget;
    one over it is quarantined on its own. A batch in which any message fails is
    rolled back and run again one message at a time, so a poison message is
    quarantined and its neighbours stored. `on_batch` is called inside the
    batch's transaction with its results.
    """
    marker = mailbox.settings.replies.end_of_message_marker
    prepared = _prepare(batch, marker)
    return _run_batch(mailbox, prepared, history=history, on_stored=_results_to(on_batch))


def _run_batch(
    mailbox: Mailbox,
    prepared: _Prepared,
    *,
    history: bool,
    on_stored: OnStored | None,
) -> list[IngestResult]:
    """The steps of a prepared batch in one transaction; one by one if that fails."""
    batch, digests, parsed = prepared.items, prepared.digests, prepared.parsed
    done: list[IngestResult | None] = [
        quarantined(
            mailbox,
            item.raw,
            digest,
            result,
            source=item.source,
            delivered_to=item.delivered_to,
            history=history,
        )
        if isinstance(result, OverBudget)
        else None
        for item, digest, result in zip(batch, digests, parsed, strict=True)
    ]
    todo = [
        (index, item, digest, result)
        for index, (item, digest, result) in enumerate(zip(batch, digests, parsed, strict=True))
        if not isinstance(result, OverBudget)
    ]
    try:
        with transaction.atomic():
            store = BatchStore.prepare(
                mailbox,
                [
                    (item.raw, digest, item.source.key() if item.source else "")
                    for _, item, digest, _ in todo
                ],
            )
            with store.pending_rows_first():
                for index, item, digest, result in todo:
                    ctx = _context(
                        mailbox,
                        item.raw,
                        digest,
                        store,
                        source=item.source,
                        delivered_to=item.delivered_to,
                        history=history,
                    )
                    ctx.parsed_in_advance = result
                    done[index] = process(ctx)
                store.flush()
            if on_stored is not None:
                on_stored(batch, _all(done))
    except Exception:  # noqa: BLE001 - the batch is retried message by message
        log.warning("a batch of %d failed; ingesting one by one", len(todo))
        for index, item, digest, _ in todo:
            done[index] = ingest_stored(
                mailbox,
                item.raw,
                digest,
                source=item.source,
                delivered_to=item.delivered_to,
                history=history,
            )
        if on_stored is not None:
            with transaction.atomic():
                on_stored(batch, _all(done))
    return _all(done)


def _results_to(on_batch: Callable[[list[IngestResult]], None] | None) -> OnStored | None:
    return None if on_batch is None else lambda _, results: on_batch(results)


def _all(done: list[IngestResult | None]) -> list[IngestResult]:
    results = [result for result in done if result is not None]
    assert len(results) == len(done), "every message of the batch has a result"
    return results


def ingest_stream(
    mailbox: Mailbox,
    batches: Iterable[list[IngestItem]],
    *,
    history: bool = True,
    on_stored: OnStored | None = None,
) -> Iterator[tuple[list[IngestItem], list[IngestResult]]]:
    """Ingest batch after batch, each in its own transaction; yields each with its results.

    `on_stored(batch, results)` is called inside each batch's transaction.

    While one batch's steps run, the next one's raw bytes are written and its
    messages parsed, by the parsing processes (a helper thread hands them over),
    so the database work and the parsing use a core each. A batch's
    bytes are stored before its transaction begins, as in `ingest_batch`.
    Messages already stored from the same source position (an import resumed
    after a kill, or run again) are not parsed at all.
    """
    marker = mailbox.settings.replies.end_of_message_marker
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-ahead") as ahead:
        pending: Future[_Prepared] | None = None
        for batch in batches:
            stored = _stored_before(mailbox, batch)
            upcoming = ahead.submit(_prepare, batch, marker, stored)
            if pending is not None:
                prepared = pending.result()
                yield (
                    prepared.items,
                    _run_batch(mailbox, prepared, history=history, on_stored=on_stored),
                )
            pending = upcoming
        if pending is not None:
            prepared = pending.result()
            yield (
                prepared.items,
                _run_batch(mailbox, prepared, history=history, on_stored=on_stored),
            )


def ingest_many(
    mailbox: Mailbox,
    items: Iterable[IngestItem | bytes | tuple[bytes, SourcePosition | None]],
    *,
    batch_size: int = 200,
    history: bool = True,
    on_batch: Callable[[list[IngestResult]], None] | None = None,
) -> list[IngestResult]:
    """Ingest many messages, one transaction per batch of batch_size (fast imports).

    `history` defaults to True: imports never queue acknowledgements.
    """
    batches = (list(b) for b in batched((_as_item(entry) for entry in items), batch_size))
    stream = ingest_stream(mailbox, batches, history=history, on_stored=_results_to(on_batch))
    return [result for _, results in stream for result in results]
