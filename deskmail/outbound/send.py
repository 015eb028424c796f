"""Send what the outbox holds: claim, send over SMTP, record, retry with backoff.

The states of a row:

    pending --claim--> sending --accepted--> sent
    sending --temporary failure (4xx, timeout, refused)--> pending, due after a backoff
    sending --permanent failure (5xx) or too many tries--> failed, and a note on the ticket
    sending --stuck past SENDING_TIMEOUT (the worker died)--> pending (or sent, if in Sent)

A row is claimed with a conditional UPDATE (pending -> sending, attempts + 1,
claimed_at, claimed_by), so two workers never send the same row; no lock is
held while SMTP runs.

The crash window. A worker can die after the server accepted the mail and
before the row says so. We choose at-least-once for that window: a row stuck
in `sending` for longer than SENDING_TIMEOUT is put back to pending and sent
again. A helpdesk loses less by a rare duplicate than by a reply the customer
never gets, and the duplicate is the very same mail (same Message-ID, same
bytes), which mail clients and Gmail-like stores show once. When the mailbox
keeps a Sent folder, the folder is searched for the Message-ID first, and a
mail found there is marked sent instead of being sent again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deskmail.connectors.base import Refused, Sender
from deskmail.connectors.errors import ConnectorError
from deskmail.core import channel
from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.mailboxes.connections import sender
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import cannot_send, compose_auto_ack
from deskmail.outbound.recipients import own_addresses
from deskmail.outbound.sent_folder import already_in_sent, save_to_sent
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import InternalNote

log = logging.getLogger(__name__)

# A row in `sending` for longer than this belongs to a worker that died.
SENDING_TIMEOUT = dt.timedelta(minutes=15)
# Temporary failures are retried this often before the row is failed for good
# (with the backoff below: about a day and a half of trying).
MAX_ATTEMPTS = 12
BACKOFF_FIRST = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(hours=4)
BATCH_SIZE = 100
# How long one send_due call may go on draining a backlog.
BUDGET_S = 20.0


SenderFactory = Callable[[Mailbox], Sender]


@dataclass
class SendReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)
    # The channel was (or went) off: what is due waits in the outbox.
    channel_off: bool = False

    def __str__(self) -> str:
        if self.channel_off and not self.sent:
            return "the email channel is off: nothing sent, the mail waits in the outbox"
        return (
            f"sent {self.sent}, deferred {self.deferred}, failed {self.failed}, "
            f"skipped {self.skipped}, recovered {self.recovered}"
        )


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the attempts-th failure: 30 s, 1 min, 2 min, ... at most 4 h."""
    wait: dt.timedelta = BACKOFF_FIRST * (2 ** max(attempts - 1, 0))
    return min(wait, BACKOFF_MAX)


# -- claiming --------------------------------------------------------------------------------


def _claim(ids: Iterable[int], now: dt.datetime) -> list[OutboxItem]:
    """pending -> sending for those of ids still pending; returns the rows this call won."""
    token = uuid.uuid4().hex
    OutboxItem.objects.filter(id__in=list(ids), status=OutboxItem.Status.PENDING).exclude(
        send_after__gt=now  # still in its undo window
    ).update(
        status=OutboxItem.Status.SENDING,
        attempts=F("attempts") + 1,
        claimed_at=now,
        claimed_by=token,
        last_attempt_at=now,
    )
    return list(
        OutboxItem.objects.filter(claimed_by=token, status=OutboxItem.Status.SENDING)
        .select_related("ticket", "ticket__mailbox", "ticket__contact", "mailbox", "outgoing")
        .order_by("id")
    )


def _finish(item: OutboxItem, **fields: object) -> bool:
    """Write the outcome, only if the row is still ours (it may have been recovered)."""
    done = OutboxItem.objects.filter(
        pk=item.pk, status=OutboxItem.Status.SENDING, claimed_by=item.claimed_by
    ).update(**fields)
    for name, value in fields.items():
        setattr(item, name, value)
    return done == 1


def recover_stuck(now: dt.datetime, report: SendReport | None = None) -> int:
    """Rows left in `sending` by a worker that died: found in Sent, sent again, or failed."""
    cutoff = now - SENDING_TIMEOUT
    count = 0
    stuck = OutboxItem.objects.filter(status=OutboxItem.Status.SENDING, claimed_at__lt=cutoff)
    for item in stuck.select_related("ticket", "mailbox", "ticket__mailbox", "outgoing"):
        mailbox = item.sending_mailbox
        if item.message_id and already_in_sent(mailbox, item.message_id):
            _finish(item, status=OutboxItem.Status.SENT, sent_at=now, saved_to_sent=True,
                    last_error="")  # fmt: skip
        elif item.attempts >= MAX_ATTEMPTS:
            _fail(item, "the worker stopped while sending, too many times", now)
        else:
            _finish(
                item,
                status=OutboxItem.Status.PENDING,
                next_attempt_at=now,
                last_error=(
                    f"the worker stopped while sending (claimed {item.claimed_at:%Y-%m-%d %H:%M:%S}"
                    " UTC); sending again with the same Message-ID"
                ),
            )
        count += 1
    if report is not None:
        report.recovered += count
    return count


# -- outcomes --------------------------------------------------------------------------------


def _who(item: OutboxItem) -> str:
    if item.outgoing is not None:
        return ", ".join([*item.outgoing.to, *item.outgoing.cc]) or item.recipient
    return item.recipient or "the customer"


def _fail(item: OutboxItem, words: str, now: dt.datetime) -> None:
    """Failed for good: the row says why, and so does a note on the ticket."""
    with transaction.atomic():
        if not _finish(item, status=OutboxItem.Status.FAILED, last_error=words):
            return
        _event(Event.Kind.MESSAGE_FAILED, item, error=words)
        if item.ticket_id is None:
            return  # a notice: the row says why, there is no ticket to note it on
        what = {
            "auto_ack": "The acknowledgement",
            "forward": "The forward",
            "task": "The task mail",
        }.get(item.kind, "The reply")
        InternalNote.objects.create(
            ticket_id=item.ticket_id,
            kind=InternalNote.Kind.DELIVERY_FAILURE,
            body=f"{what} to {_who(item)} could not be sent (outbox #{item.pk}, "
            f"{item.attempts} attempt{'s' if item.attempts != 1 else ''}).\n"
            f"The server said: {words}",
            message=item.outgoing,
        )


def _event(kind: str, item: OutboxItem, **data: Any) -> None:
    """The outbox row's fate in the event log (in the caller's transaction)."""
    ticket = item.ticket
    if ticket is None:
        return  # a notice: the event log and its webhooks speak of tickets
    emit(
        kind,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        outbox=item.pk,
        message=item.outgoing_id,
        message_id=item.message_id,
        what=item.kind,
        recipients=_who(item),
        **data,
    )


def _failure(item: OutboxItem, exc: ConnectorError, now: dt.datetime, report: SendReport) -> None:
    words = exc.message
    if exc.server_reply and exc.server_reply not in exc.message:
        words = f"{exc.message} (the server said: {exc.server_reply})"
    # A refused login is permanent for the connection but not for the mail: once an
    # admin fixes the password or reauthorizes, the waiting mail goes out by itself.
    if exc.retry_after is not None and not exc.permanent:
        # Throttled (Graph's 429, a sending quota): the server asked for a pause, which
        # is not a failed attempt; a large backlog must not use up MAX_ATTEMPTS waiting.
        _finish(
            item,
            status=OutboxItem.Status.PENDING,
            attempts=item.attempts - 1,
            next_attempt_at=now + dt.timedelta(seconds=exc.retry_after),
            last_error=words,
        )
        report.deferred += 1
    elif (exc.permanent and not exc.auth) or item.attempts >= MAX_ATTEMPTS:
        _fail(item, words, now)
        report.failed += 1
    else:
        _finish(
            item,
            status=OutboxItem.Status.PENDING,
            next_attempt_at=now + backoff(item.attempts),
            last_error=words,
        )
        report.deferred += 1
    report.errors.append(f"#{item.pk}: {words}")


def _refused_note(item: OutboxItem, refused: Refused) -> None:
    if item.ticket_id is None:
        return  # a notice has one recipient: it was not refused, or the mail failed
    lines = [f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items()]
    InternalNote.objects.create(
        ticket_id=item.ticket_id,
        kind=InternalNote.Kind.DELIVERY_FAILURE,
        body="The server refused some recipients; the others got the mail.\n" + "\n".join(lines),
        message=item.outgoing,
    )


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- sending ---------------------------------------------------------------------------------


def _deliver(
    item: OutboxItem,
    sender: Sender,
    mailbox: Mailbox,
    ours: frozenset[str],
    now: dt.datetime,
    report: SendReport,
) -> None:
    if item.outgoing is None:
        if not compose_auto_ack(item, now):
            report.skipped += 1
            return
    message = item.outgoing
    assert message is not None
    recipients = [a for a in [*message.to, *message.cc] if a.lower() not in ours]
    if not recipients:
        _fail(item, "no recipient left: our own addresses are never mailed", now)
        report.failed += 1
        return
    raw = read_raw(message.raw_sha256)
    started = time.monotonic()
    try:
        refused = sender.send(mailbox.address, recipients, raw)
    except ConnectorError as exc:
        _failure(item, exc, now, report)
        return
    took = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        _finish(
            item,
            status=OutboxItem.Status.SENT,
            sent_at=timezone.now(),
            last_duration_ms=took,
            last_error="",
            refused={r: [code, _text(msg)] for r, (code, msg) in (refused or {}).items()},
        )
        if refused:
            _refused_note(item, refused)
        _event(Event.Kind.MESSAGE_SENT, item)
    report.sent += 1
    if save_to_sent(mailbox, raw):
        OutboxItem.objects.filter(pk=item.pk).update(saved_to_sent=True)
        item.saved_to_sent = True


def _send_group(
    mailbox: Mailbox,
    items: list[OutboxItem],
    factory: SenderFactory,
    now: dt.datetime,
    report: SendReport,
) -> None:
    """One connection for a mailbox's due mail; a failure to connect defers them all."""
    reason = cannot_send(mailbox)
    if reason:
        for item in items:
            _fail(item, reason, now)
            report.failed += 1
        return
    try:
        connection = factory(mailbox)
        connection.open()
    except ConnectorError as exc:
        for item in items:
            _failure(item, exc, now, report)
        return
    ours = own_addresses()
    try:
        for item in items:
            try:
                _deliver(item, connection, mailbox, ours, now, report)
            except Exception as exc:  # noqa: BLE001 - one broken row must not stop the rest
                log.exception("outbox #%s: unexpected error", item.pk)
                error = ConnectorError(f"{type(exc).__name__}: {exc}", permanent=False)
                _failure(item, error, now, report)
    finally:
        connection.close()


def _run(
    items: list[OutboxItem], factory: SenderFactory, now: dt.datetime, report: SendReport
) -> None:
    groups: dict[int, tuple[Mailbox, list[OutboxItem]]] = {}
    for item in items:
        mailbox = item.sending_mailbox
        groups.setdefault(mailbox.pk, (mailbox, []))[1].append(item)
    for mailbox, group in groups.values():
        _send_group(mailbox, group, factory, now, report)


def send_due(
    now: dt.datetime | None = None,
    *,
    limit: int = BATCH_SIZE,
    budget_s: float = BUDGET_S,
    factory: SenderFactory = sender,
    channel_on: Callable[[], bool] = channel.is_on,
) -> SendReport:
    """Send the rows that are due, limit at a time, for up to budget_s seconds.

    The worker calls this every couple of seconds; a backlog (after an outage)
    drains in batches within one call instead of one batch per call. Every row
    sent or failed leaves the due set (a deferred one is due only later), so
    the loop ends when nothing is due.

    While the email channel is off (`channel_on()` is asked once per batch, never
    per mail) nothing is sent or touched: the rows wait, with no attempt counted,
    and go out when it is on again.
    """
    now = now or timezone.now()
    report = SendReport()
    if not channel_on():
        report.channel_off = True
        return report
    recover_stuck(now, report)
    deadline = time.monotonic() + budget_s
    batches = 0
    while True:
        if batches and not channel_on():  # switched off while a backlog drains
            report.channel_off = True
            break
        batches += 1
        ids = list(
            OutboxItem.objects.filter(status=OutboxItem.Status.PENDING, next_attempt_at__lte=now)
            .exclude(send_after__gt=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            break
        _run(_claim(ids, now), factory, now, report)
        if len(ids) < limit or time.monotonic() >= deadline:
            break
    if report.errors:
        log.warning("outbox: %s; %s", report, "; ".join(report.errors[:5]))
    return report


def send_one(item: OutboxItem, *, factory: SenderFactory = sender) -> SendReport:
    """Send this row now if it is pending, whatever its next_attempt_at (not while the
    channel is off)."""
    report = SendReport()
    if not channel.is_on():
        report.channel_off = True
        return report
    now = timezone.now()
    _run(_claim([item.pk], now), factory, now, report)
    item.refresh_from_db()
    return report


def retry(item: OutboxItem) -> bool:
    """Put a failed (or waiting) row back in line, due now, with a fresh attempt count."""
    return bool(
        OutboxItem.objects.filter(
            pk=item.pk, status__in=[OutboxItem.Status.FAILED, OutboxItem.Status.PENDING]
        ).update(
            status=OutboxItem.Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            claimed_by="",
        )
    )
