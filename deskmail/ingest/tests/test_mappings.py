import pytest

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Attachment, Blob

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("headers", "priority"),
    [
        ({"Importance": "High"}, "high"),
        ({"Importance": "low"}, "low"),
        ({"X-Priority": "1 (Highest)"}, "high"),
        ({"X-Priority": "5"}, "low"),
        ({"Priority": "urgent"}, "urgent"),
        ({}, "normal"),
    ],
)
def test_it_maps_importance_headers_to_priority(support, headers, priority):
    configure(support, tickets={"field_mappings": [{"field": "priority", "from": "importance"}]})
    result = ingest(support, make_email(headers=headers))
    assert result.ticket.priority == priority


def test_it_ignores_importance_without_a_mapping(support):
    result = ingest(support, make_email(headers={"Importance": "High"}))
    assert result.ticket.priority == "normal"


def test_it_maps_sender_header_and_default_values(support):
    configure(
        support,
        tickets={
            "field_mappings": [
                {"field": "reporter", "from": "sender"},
                {"field": "customer_id", "from": "header:X-Customer-Id"},
                {"field": "product", "from": "header:X-Product", "default": "Widget"},
            ]
        },
    )
    result = ingest(support, make_email(headers={"X-Customer-Id": "C-77"}))
    assert result.ticket.custom_fields == {
        "reporter": "ann@acme.example",
        "customer_id": "C-77",
        "product": "Widget",
    }


def test_it_sets_restricted_fields_only_from_their_default(support):
    configure(
        support,
        tickets={
            "field_mappings": [
                {
                    "field": "product",
                    "from": "header:X-Product",
                    "default": "Widget",
                    "restricted": True,
                }
            ]
        },
    )
    result = ingest(support, make_email(headers={"X-Product": "Gadget"}))
    assert result.ticket.custom_fields["product"] == "Widget"


def test_it_stores_attachments_once_however_often_they_arrive(support):
    pdf = ("invoice.pdf", "application/pdf", b"%PDF-1.4 same bytes")
    ingest(support, make_email(attachments=[pdf]))
    ingest(support, make_email(subject="again", attachments=[pdf]))
    assert Attachment.objects.count() == 2
    assert Blob.objects.count() == 1
    assert Attachment.objects.first().filename == "invoice.pdf"


def test_it_attaches_the_original_email_when_configured(support):
    raw = make_email()
    plain = ingest(support, make_email(subject="plain"))
    configure(support, tickets={"attach_original_email": True})
    result = ingest(support, raw)
    original = result.message.attachments.get(filename="original.eml")
    assert original.content_type == "message/rfc822" and original.size == len(raw)
    assert not plain.message.attachments.exists()


def test_it_maps_the_body_sender_name_and_attachment_names(support):
    configure(
        support,
        tickets={
            "field_mappings": [
                {"field": "description", "from": "body"},
                {"field": "reporter_name", "from": "sender_name"},
                {"field": "files", "from": "attachments"},
            ]
        },
    )
    raw = make_email(
        sender="Ann Customer <ann@acme.example>",
        body="Screen is black.\n",
        attachments=[("photo.png", "image/png", b"\x89PNG fake")],
    )
    fields = ingest(support, raw).ticket.custom_fields
    assert fields["description"].strip() == "Screen is black."
    assert fields["reporter_name"] == "Ann Customer"
    assert fields["files"] == ["photo.png"]
