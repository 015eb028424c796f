"""The inbox: raw mail stored and queued by whoever fetched it, processed by the engine.

    with transaction.atomic():
        accept(mailbox, arrivals)           # raw files + inbox rows
        save_cursor(...)                    # how far the source got: same commit
    process_pending(owner)                  # the engine, in its own thread or process

Fetching never waits on processing: a slow or failing message holds no
connection, and one session can keep fetching while the pipeline catches up.
Each mailbox's rows are processed by one engine at a time (a lane, claimed by
a conditional UPDATE and given up when its owner dies), in arrival order, so
a reply is never processed before the message it answers. A row is deleted in
the very transaction that stores its message or quarantines it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import batched, groupby

from django.db import IntegrityError
from django.db.models import Min, Q
from django.utils import timezone

from deskmail.connectors.base import SourcePosition
from deskmail.ingest.engine import IngestItem, IngestResult, ingest_stored, ingest_stream
from deskmail.ingest.models import InboxItem, InboxLane
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.blobs import read_raw, store_raw

log = logging.getLogger(__name__)

# A lane is held this long without renewal before another engine may take it over.
LANE_SECONDS = 120
# Rows processed per claim of a lane.
CHUNK = 500
# History rows go through the pipeline in batches of this many: while one runs its
# steps, the next is read and parsed.
HISTORY_BATCH = 125


@dataclass(frozen=True)
class Arrival:
    """One message a source brought."""

    raw: bytes
    source: SourcePosition | None = None
    delivered_to: str | None = None
    history: bool = False
    arrived_at: dt.datetime | None = None


def accept(mailbox: Mailbox, arrivals: Iterable[Arrival]) -> list[InboxItem]:
    """Store the raw bytes and queue them for the pipeline, in the caller's transaction."""
    rows = [
        InboxItem(
            mailbox=mailbox,
            raw_sha256=store_raw(arrival.raw),
            raw_size=len(arrival.raw),
            source=arrival.source.to_json() if arrival.source is not None else {},
            delivered_to=(arrival.delivered_to or "")[:254],
            history=arrival.history,
            arrived_at=arrival.arrived_at,
        )
        for arrival in arrivals
    ]
    return InboxItem.objects.bulk_create(rows) if rows else []


def waiting(mailbox: Mailbox | None = None) -> int:
    """How many rows wait (for one mailbox, or all)."""
    query = InboxItem.objects.all()
    if mailbox is not None:
        query = query.filter(mailbox=mailbox)
    return query.count()


# -- lanes ------------------------------------------------------------------------------------


def _claim(mailbox_id: int, owner: str) -> bool:
    now = timezone.now()
    try:
        InboxLane.objects.get_or_create(mailbox_id=mailbox_id)
    except IntegrityError:
        pass  # another engine created it at the same moment
    free = Q(owner="") | Q(expires_at__lt=now) | Q(owner=owner)
    expires = now + dt.timedelta(seconds=LANE_SECONDS)
    claimed = InboxLane.objects.filter(free, mailbox_id=mailbox_id).update(
        owner=owner, expires_at=expires
    )
    return claimed == 1


def _release(mailbox_id: int, owner: str) -> None:
    InboxLane.objects.filter(mailbox_id=mailbox_id, owner=owner).update(owner="", expires_at=None)


def release_lanes(owners: list[str]) -> int:
    """Free the lanes of engines known to be gone (their worker stopped beating).

    Without this, mail a killed worker had fetched waits out the lane's whole term.
    """
    return InboxLane.objects.filter(owner__in=owners).update(owner="", expires_at=None)


def _waiting_mailboxes() -> list[int]:
    """Mailboxes with waiting rows, the one waiting longest first."""
    rows = InboxItem.objects.values("mailbox_id").annotate(first=Min("id")).order_by("first")
    return [row["mailbox_id"] for row in rows]


# -- processing -------------------------------------------------------------------------------


def process_pending(owner: str, *, limit: int = CHUNK) -> list[IngestResult]:
    """Process the oldest waiting rows of one mailbox nobody else is processing.

    Returns what became of them; [] when nothing waits that this engine may take.
    """
    for mailbox_id in _waiting_mailboxes():
        if not _claim(mailbox_id, owner):
            continue
        try:
            return _process(mailbox_id, limit)
        finally:
            _release(mailbox_id, owner)
    return []


def drain(owner: str = "drain") -> list[IngestResult]:
    """Process everything that waits and no other engine holds (commands and tests)."""
    results: list[IngestResult] = []
    while done := process_pending(owner):
        results.extend(done)
    return results


def _process(mailbox_id: int, limit: int) -> list[IngestResult]:
    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    rows = list(InboxItem.objects.filter(mailbox_id=mailbox_id).order_by("id")[:limit])
    if mailbox is None or not rows:
        return []
    results: list[IngestResult] = []
    for history, group in groupby(rows, key=lambda row: row.history):
        chunk = list(group)
        if history:
            results.extend(_process_history(mailbox, chunk))
        else:
            results.extend(_process_live(mailbox, row) for row in chunk)
    return results


def _items(rows: list[InboxItem]) -> Iterator[tuple[InboxItem, IngestItem]]:
    for row in rows:
        item = IngestItem(
            read_raw(row.raw_sha256),
            SourcePosition.from_json(row.source),
            row.delivered_to or None,
            sha256=row.raw_sha256,
        )
        yield row, item


def _process_history(mailbox: Mailbox, rows: list[InboxItem]) -> list[IngestResult]:
    """Mail older than the mailbox: in batches, as an import is.

    The next batch is read and parsed while one runs its steps; each row is
    deleted in the transaction of its batch.
    """
    row_of: dict[int, int] = {}

    def batches() -> Iterator[list[IngestItem]]:
        for chunk in batched(rows, HISTORY_BATCH):
            items = []
            for row, item in _items(list(chunk)):
                row_of[id(item)] = row.pk
                items.append(item)
            yield items

    def done(batch: list[IngestItem], results: list[IngestResult]) -> None:
        InboxItem.objects.filter(pk__in=[row_of[id(item)] for item in batch]).delete()

    stream = ingest_stream(mailbox, batches(), history=True, on_stored=done)
    return [result for _, results in stream for result in results]


def _process_live(mailbox: Mailbox, row: InboxItem) -> IngestResult:
    """Mail arriving now: its own transaction, acknowledgements and rate limits."""
    ((_, item),) = _items([row])

    def done() -> None:
        InboxItem.objects.filter(pk=row.pk).delete()

    return ingest_stored(
        mailbox,
        item.raw,
        row.raw_sha256,
        source=item.source,
        delivered_to=item.delivered_to,
        history=False,
        on_stored=done,
    )
