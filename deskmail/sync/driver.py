"""One sync pass of one mailbox: fetch after the cursor, store in the inbox, then acknowledge.

Exactly once, whatever crashes where:
- each batch of messages goes into the inbox (raw bytes and a row each) in one
  transaction together with the cursor past them;
- the after-fetch action (mark seen, move, delete) runs only after that
  commit; until it is done the cursor lists the messages still waiting for it,
  and the next pass finishes them first;
- a message offered again anyway (a changed UIDVALIDITY, an expired delta
  token) is dropped by the pipeline as a duplicate by Message-ID.

The pass never waits on the pipeline: the engine processes the inbox on its
own (`deskmail.sync.processor`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from deskmail.connectors.base import InboundSession, RawMessage
from deskmail.ingest.inbox import Arrival, accept
from deskmail.mailboxes.models import Mailbox
from deskmail.sync.models import SyncCursor

log = logging.getLogger(__name__)

_DATE = re.compile(rb"^date:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class SyncReport:
    fetched: int = 0
    resync: bool = False


def sync_pass(
    mailbox: Mailbox,
    session: InboundSession,
    *,
    stop: Callable[[], bool] | None = None,
    on_accepted: Callable[[], None] | None = None,
) -> SyncReport:
    """Fetch, store and acknowledge everything new. `stop()` returning True ends it early;
    `on_accepted()` is called after each commit that put mail in the inbox."""
    row, _ = SyncCursor.objects.get_or_create(mailbox=mailbox)
    first_sync = not row.value
    cursor = _save(row, session.acknowledge(row.value)) if row.value else row.value
    fetch = session.fetch(cursor)
    report = SyncReport(resync=fetch.resync)
    if fetch.resync:
        log.warning(
            "mailbox %s: the source renumbered its messages; everything is offered again "
            "and duplicates are dropped",
            mailbox.name,
        )
    SyncCursor.objects.filter(pk=row.pk).update(
        backlog=fetch.total, oldest_pending_at=timezone.now() if fetch.total else None
    )
    for batch in fetch.batches:
        arrivals = [
            Arrival(
                message.raw,
                message.position,
                history=_is_history(message, mailbox, first_sync),
                arrived_at=message.arrived_at,
            )
            for message in batch.messages
        ]
        with transaction.atomic():
            accept(mailbox, arrivals)
            SyncCursor.objects.filter(pk=row.pk).update(
                value=batch.cursor, backlog=Greatest(F("backlog") - len(arrivals), 0)
            )
        report.fetched += len(arrivals)
        if arrivals and on_accepted is not None:
            on_accepted()
        _save(row, session.acknowledge(batch.cursor))
        if stop is not None and stop():
            break
    SyncCursor.objects.filter(pk=row.pk).update(backlog=0, oldest_pending_at=None)
    return report


def _save(row: SyncCursor, cursor: dict[str, object]) -> dict[str, object]:
    SyncCursor.objects.filter(pk=row.pk).update(value=cursor)
    return cursor


def _is_history(message: RawMessage, mailbox: Mailbox, first_sync: bool) -> bool:
    """Mail that reached the server before the mailbox became active is history.

    The server's own arrival time counts (IMAP INTERNALDATE), else the mail's
    Date; without either, only the first sync is history. Seconds are compared:
    servers keep arrival times to the second.
    """
    activated = mailbox.activated_at
    arrived = message.arrived_at or _date(message.raw)
    if activated is None or arrived is None:
        return first_sync
    return arrived < activated.replace(microsecond=0)


def _date(raw: bytes) -> dt.datetime | None:
    end = _HEADER_END.search(raw)
    match = _DATE.search(raw[: end.start()] if end else raw[:65536])
    if match is None:
        return None
    text = re.sub(rb"\r?\n[ \t]", b" ", match.group(1)).decode("ascii", "replace")
    try:
        date = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return date if date.tzinfo is not None else date.replace(tzinfo=dt.UTC)
