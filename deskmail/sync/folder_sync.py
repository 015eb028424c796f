"""One sync pass of one mailbox: fetch after the checkpoint, store, then acknowledge.

Exactly once, whatever crashes where:
- each message is ingested in its own transaction, and the checkpoint (IMAP
  UID, POP3 UIDL) advances inside that same transaction (`on_stored`);
- the after-fetch action (mark seen, move, delete) runs only after the commit;
  how far it got is recorded too (`acked_uid`), and a crash in between is
  finished at the start of the next pass;
- a message fetched again anyway (a changed UIDVALIDITY, a restart between
  fetch and commit) is dropped by the pipeline as a duplicate by source
  position or Message-ID.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from deskmail.connectors.base import Checkpoint, Connector, SourcePosition
from deskmail.mailboxes.models import Mailbox
from deskmail.sync.models import FolderCheckpoint, SeenUidl

log = logging.getLogger(__name__)

ACK_BATCH = 50
# A first sync stores the folder's history in transactions of this many messages.
FIRST_SYNC_BATCH = 200


@dataclass
class SyncReport:
    fetched: int = 0
    outcomes: dict[str, int] | None = None
    resync: bool = False

    def count(self, outcome: str) -> None:
        self.outcomes = self.outcomes or {}
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def sync_pass(mailbox: Mailbox, connector: Connector, *, stop=None) -> SyncReport:  # noqa: ANN001
    """Fetch, store and acknowledge everything new. `stop()` returning True ends it early."""
    inbound = mailbox.settings.inbound
    assert inbound is not None
    if inbound.protocol == "pop3":
        return _sync_pop3(mailbox, connector, stop)
    return _sync_imap(mailbox, connector, inbound.folder, stop)


def _ingest(mailbox: Mailbox, raw: bytes, position: SourcePosition, *, history: bool, on_stored):  # noqa: ANN001, ANN202
    from deskmail.ingest.api import ingest

    return ingest(mailbox, raw, source=position, history=history, on_stored=on_stored)


def _sync_imap(mailbox: Mailbox, connector: Connector, folder: str, stop) -> SyncReport:  # noqa: ANN001
    row, _ = FolderCheckpoint.objects.get_or_create(mailbox=mailbox, folder=folder)
    first_sync = row.uidvalidity is None
    _finish_pending_acks(row, connector)
    result = connector.fetch(Checkpoint(uidvalidity=row.uidvalidity, last_uid=row.last_uid))
    report = SyncReport(resync=result.resync)
    if result.resync:
        log.warning(
            "mailbox %s: UIDVALIDITY of %s changed from %s to %s; resyncing, duplicates dropped",
            mailbox.name,
            folder,
            row.uidvalidity,
            result.uidvalidity,
        )
        FolderCheckpoint.objects.filter(pk=row.pk).update(
            uidvalidity=result.uidvalidity, last_uid=0, acked_uid=0
        )
    elif row.uidvalidity is None and result.uidvalidity is not None:
        FolderCheckpoint.objects.filter(pk=row.pk).update(uidvalidity=result.uidvalidity)
    _record_backlog(row.pk, result.total)
    if first_sync:
        finished = _first_sync(mailbox, connector, row.pk, result, report, stop)
        if finished and result.skipped:
            _step_over(row.pk, result.skipped)
        FolderCheckpoint.objects.filter(pk=row.pk).update(backlog=0, oldest_pending_at=None)
        return report
    unacked: list[SourcePosition] = []
    finished = True
    for message in result:
        position = message.position
        uid = int(position.uid)

        def advance(uid: int = uid, uidvalidity: int | None = position.uidvalidity) -> None:
            FolderCheckpoint.objects.filter(pk=row.pk).update(
                uidvalidity=uidvalidity, last_uid=uid, backlog=Greatest(F("backlog") - 1, 0)
            )

        outcome = _ingest(mailbox, message.raw, position, history=first_sync, on_stored=advance)
        report.fetched += 1
        report.count(outcome.outcome)
        unacked.append(position)
        if len(unacked) >= ACK_BATCH:
            _ack(row.pk, connector, unacked)
            unacked = []
        if stop is not None and stop():
            finished = False
            break
    if unacked:
        _ack(row.pk, connector, unacked)
    if finished and result.skipped:
        _step_over(row.pk, result.skipped)
    FolderCheckpoint.objects.filter(pk=row.pk).update(backlog=0, oldest_pending_at=None)
    return report


def _first_sync(
    mailbox: Mailbox,
    connector: Connector,
    pk: int,
    messages,
    report: SyncReport,
    stop,  # noqa: ANN001
) -> bool:
    """A folder's history, in batches: one transaction per batch, as an import is.

    Each batch's checkpoint advances inside its transaction; the after-fetch action
    follows its commit. History never queues acknowledgements. Returns False when
    stopped early.
    """
    from deskmail.ingest.api import ingest_many

    for chunk in _chunks(iter(messages), FIRST_SYNC_BATCH):
        positions = [message.position for message in chunk]
        highest = max(int(position.uid) for position in positions)

        def advance(
            results: object,
            highest: int = highest,
            count: int = len(chunk),
            uidvalidity: int | None = positions[-1].uidvalidity,
        ) -> None:
            FolderCheckpoint.objects.filter(pk=pk).update(
                uidvalidity=uidvalidity,
                last_uid=Greatest("last_uid", highest),
                backlog=Greatest(F("backlog") - count, 0),
            )

        results = ingest_many(
            mailbox,
            [(message.raw, message.position) for message in chunk],
            batch_size=len(chunk),
            history=True,
            on_batch=advance,
        )
        for result in results:
            report.count(result.outcome)
        report.fetched += len(chunk)
        _ack(pk, connector, positions)
        if stop is not None and stop():
            return False
    return True


def _chunks(iterator, size: int):  # noqa: ANN001, ANN202
    chunk = []
    for item in iterator:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _step_over(pk: int, skipped: list[SourcePosition]) -> None:
    """Move past messages the exact header check refused, so they are not fetched again.

    Only after a complete pass: everything below them is stored and acknowledged,
    and they themselves get no after-fetch action (they are not ours to touch).
    """
    highest = max(int(p.uid) for p in skipped)
    FolderCheckpoint.objects.filter(pk=pk).update(
        last_uid=Greatest("last_uid", highest), acked_uid=Greatest("acked_uid", highest)
    )


def _record_backlog(pk: int, total: int) -> None:
    FolderCheckpoint.objects.filter(pk=pk).update(
        backlog=total, oldest_pending_at=timezone.now() if total else None
    )


def _ack(pk: int, connector: Connector, positions: list[SourcePosition]) -> None:
    connector.ack(positions)
    highest = max(int(p.uid) for p in positions)
    FolderCheckpoint.objects.filter(pk=pk, acked_uid__lt=highest).update(acked_uid=highest)


def _finish_pending_acks(row: FolderCheckpoint, connector: Connector) -> None:
    """Run the after-fetch action a crash left undone for stored messages."""
    row.refresh_from_db()
    if row.uidvalidity is None or row.acked_uid >= row.last_uid:
        return
    positions = [
        SourcePosition("imap", row.folder, row.uidvalidity, str(uid))
        for uid in range(row.acked_uid + 1, row.last_uid + 1)
    ]
    for start in range(0, len(positions), 500):
        _ack(row.pk, connector, positions[start : start + 500])


def _sync_pop3(mailbox: Mailbox, connector: Connector, stop) -> SyncReport:  # noqa: ANN001
    seen = frozenset(SeenUidl.objects.filter(mailbox=mailbox).values_list("uidl", flat=True))
    first_sync = not seen
    result = connector.fetch(Checkpoint(seen_uidls=seen))
    report = SyncReport()
    stored: list[SourcePosition] = []
    for message in result:
        position = message.position

        def remember(uidl: str = position.uid) -> None:
            SeenUidl.objects.get_or_create(mailbox=mailbox, uidl=uidl)

        outcome = _ingest(mailbox, message.raw, position, history=first_sync, on_stored=remember)
        report.fetched += 1
        report.count(outcome.outcome)
        stored.append(position)
        if stop is not None and stop():
            break
    if stored:
        connector.ack(stored)
    if result.server_uids is not None:
        # UIDLs gone from the server can never come back: forget them.
        with transaction.atomic():
            SeenUidl.objects.filter(mailbox=mailbox).exclude(uidl__in=result.server_uids).delete()
    return report
