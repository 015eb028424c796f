"""Each message is parsed within a time and memory budget; one over it costs only itself."""

from __future__ import annotations

import base64

import pytest
from django.test import override_settings

from deskmail.ingest.api import ingest, ingest_many
from deskmail.ingest.models import QuarantinedMessage
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _big(megabytes: int) -> bytes:
    line = "> " + "quoted words of an old thread " * 3 + "\n"
    return make_email(subject="a very long mail", body=line * (megabytes * 2**20 // len(line)))


@override_settings(PARSE_IN_PROCESSES=True, PARSE_SECONDS=0.05)
def test_it_quarantines_a_message_that_takes_too_long_and_goes_on(support, fresh_pool):
    slow = ingest(support, _big(24))
    after = ingest(support, make_email(subject="the next one"))

    assert slow.outcome == "quarantined" and "took longer than 0.05 s" in slow.error
    kept = QuarantinedMessage.objects.get()
    assert kept.status == "failed" and kept.next_retry_at is None  # no automatic retry
    assert after.outcome == "new_ticket"


@override_settings(PARSE_IN_PROCESSES=True, PARSE_MEMORY_MB=320)
def test_it_quarantines_a_message_that_needs_too_much_memory(support, fresh_pool):
    attachment = base64.b64encode(b"x" * 90 * 2**20).decode()
    raw = (
        "From: ann@acme.example\r\nTo: support@example.com\r\nSubject: huge\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=big.bin\r\n\r\n"
        + "\r\n".join(attachment[i : i + 76] for i in range(0, len(attachment), 76))
        + "\r\n--b--\r\n"
    ).encode()

    result = ingest(support, raw)

    assert result.outcome == "quarantined" and "320 MiB" in result.error
    assert ingest(support, make_email(subject="small")).outcome == "new_ticket"


@override_settings(PARSE_IN_PROCESSES=True, PARSE_SECONDS=0.05)
def test_it_quarantines_only_the_slow_message_of_a_batch(support, fresh_pool):
    batch = [make_email(subject="one"), _big(24), make_email(subject="three")]

    results = ingest_many(support, batch)

    assert [r.outcome for r in results] == ["new_ticket", "quarantined", "new_ticket"]
    assert sorted(Ticket.objects.values_list("title", flat=True)) == ["one", "three"]
