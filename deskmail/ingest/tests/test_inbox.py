"""The inbox's history rows: in batches, in arrival order, each row gone with its batch."""

import pytest

from deskmail.ingest import inbox
from deskmail.ingest.api import SourcePosition
from deskmail.ingest.inbox import HISTORY_BATCH, Arrival
from deskmail.ingest.models import InboxItem, QuarantinedMessage
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Message

pytestmark = pytest.mark.django_db


def _arrivals(count: int, *, poison: int | None = None) -> list[Arrival]:
    return [
        Arrival(
            b"\x00\x01 not mail" if n == poison else make_email(subject=f"h{n}"),
            SourcePosition("imap", "INBOX", 1, str(n)),
            history=True,
        )
        for n in range(count)
    ]


def test_history_rows_go_through_in_batches_in_arrival_order(support):
    count = 2 * HISTORY_BATCH + 3
    inbox.accept(support, _arrivals(count, poison=HISTORY_BATCH + 1))

    results = inbox.process_pending("engine")

    assert len(results) == count
    subjects = [r.message.subject if r.message else "(quarantined)" for r in results]
    expected = [f"h{n}" for n in range(count)]
    expected[HISTORY_BATCH + 1] = "(quarantined)"
    assert subjects == expected
    assert not InboxItem.objects.exists()
    assert Message.objects.count() == count - 1
    assert QuarantinedMessage.objects.count() == 1


def test_a_batch_whose_rows_cannot_be_removed_at_once_is_stored_one_by_one(support, monkeypatch):
    inbox.accept(support, _arrivals(2 * HISTORY_BATCH))
    query = type(InboxItem.objects.all())
    delete = query.delete
    calls = []

    def fail_once(self):
        calls.append(1)
        if len(calls) == 2:  # the second batch's, inside its transaction
            raise RuntimeError("lock timeout")
        return delete(self)

    monkeypatch.setattr(query, "delete", fail_once)
    results = inbox.process_pending("engine")

    assert [r.outcome for r in results] == ["new_ticket"] * (2 * HISTORY_BATCH)
    assert not InboxItem.objects.exists()
    assert Message.objects.count() == 2 * HISTORY_BATCH
