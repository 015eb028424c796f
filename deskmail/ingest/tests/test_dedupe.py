"""Nothing ingested twice: the same delivery, or the same mail through several addresses."""

import pytest

from deskmail.ingest.api import SourcePosition, ingest
from deskmail.ingest.steps.parse import synthetic_message_id
from deskmail.ingest.tests.conftest import decision
from deskmail.testing.builders import make_email
from deskmail.tickets.blobs import sha256
from deskmail.tickets.models import Delivery, Message, Ticket

pytestmark = pytest.mark.django_db


def test_it_drops_the_same_source_position_fetched_again(support):
    raw = make_email()
    where = SourcePosition("imap", "INBOX", 7, "42")
    first = ingest(support, raw, source=where)
    again = ingest(support, raw, source=where)
    assert (first.outcome, again.outcome) == ("new_ticket", "duplicate")
    assert again.message.pk == first.message.pk
    assert "source position" in decision(again, "redelivery").reason
    assert [d.step for d in again.trace] == ["redelivery"]  # found before any parsing
    assert Delivery.objects.count() == 1


def test_it_stores_different_bytes_found_at_a_known_position(support):
    where = SourcePosition("import", "/archive/support.mbox", None, "3")
    ingest(support, make_email(subject="One"), source=where)
    other = ingest(support, make_email(subject="Two"), source=where)
    assert other.outcome == "new_ticket"


def test_it_keeps_one_message_sent_to_two_mailboxes_with_both_deliveries(support, sales):
    raw = make_email(to="support@example.com", cc="sales@example.com")
    a = ingest(support, raw, source=SourcePosition("imap", "INBOX", 1, "10"))
    b = ingest(sales, raw, source=SourcePosition("imap", "INBOX", 5, "99"))
    assert (a.outcome, b.outcome) == ("new_ticket", "duplicate")
    assert b.ticket.pk == a.ticket.pk
    assert Message.objects.count() == 1 and Ticket.objects.count() == 1
    message = Message.objects.get()
    assert {d.mailbox.name for d in message.deliveries.all()} == {"support", "sales"}
    assert message.trace[-1]["verdict"] == "delivery"
    assert "sales" in message.trace[-1]["reason"]


def test_it_keeps_one_message_delivered_to_the_address_and_an_alias(support):
    raw = make_email(to="support@example.com", cc="help@example.com")
    ingest(support, raw, delivered_to="support@example.com")
    again = ingest(support, raw, delivered_to="help@example.com")
    assert again.outcome == "duplicate"
    addresses = sorted(Delivery.objects.values_list("address", flat=True))
    assert addresses == ["help@example.com", "support@example.com"]


def test_it_gives_mail_without_message_id_a_stable_synthetic_one(support):
    raw = make_email(message_id=None)
    first = ingest(support, raw)
    again = ingest(support, raw)
    assert first.message.message_id == synthetic_message_id(sha256(raw))
    assert first.message.synthetic_message_id
    assert again.outcome == "duplicate"


def test_it_stores_the_raw_message_content_addressed(support):
    from django.core.files.storage import default_storage

    raw = make_email()
    result = ingest(support, raw)
    digest = sha256(raw)
    name = f"raw/{digest[:2]}/{digest[2:4]}/{digest}.eml"
    assert result.message.raw_sha256 == digest
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == raw
