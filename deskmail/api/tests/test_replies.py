"""Replies (JSON and multipart), canned answers, notes and forwards over the API."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart

from deskmail.api.tests.conftest import customer_ticket
from deskmail.outbound.models import OutboxItem
from deskmail.services import canned
from deskmail.tickets.models import InternalNote

pytestmark = pytest.mark.django_db

BOUNDARY = "deskmail-test-boundary"


@pytest.fixture
def ticket(team):
    return customer_ticket(
        team.north,
        subject="Printer",
        sender="Ann Customer <ann@acme.example>",
        cc="boss@acme.example",
    )


def _item(answer) -> OutboxItem:
    assert answer.status == 201, answer.content
    return OutboxItem.objects.select_related("outgoing").get(pk=answer.json()["id"])


def test_a_reply_goes_to_whom_the_rules_say_unless_told(api, ticket):
    default = _item(api.nora.post(f"tickets/{ticket.number}/replies", {"body_text": "Fixed."}))
    told = _item(
        api.nora.post(
            f"tickets/{ticket.number}/replies",
            {"body_html": "<p>Fixed <b>again</b></p>", "to": ["it@acme.example"], "cc": []},
        )
    )

    assert (default.outgoing.to, default.outgoing.cc) == (
        ["ann@acme.example"],
        ["boss@acme.example"],
    )
    assert (told.outgoing.to, told.outgoing.cc) == (["it@acme.example"], [])
    assert "<b>again</b>" in told.outgoing.body_html
    assert default.kind == "reply" and default.agent.email == "nora@helpdesk.example"


def test_a_reply_can_move_the_ticket_and_be_a_public_comment(api, ticket):
    item = _item(
        api.nora.post(
            f"tickets/{ticket.number}/replies",
            {"body_text": "Waiting for you.", "status": "pending", "public_note": True},
        )
    )

    ticket.refresh_from_db()
    assert item.kind == "note" and ticket.status == "pending"


def test_a_reply_can_be_a_canned_answer_filled_in_for_the_ticket(api, team, ticket):
    answer = canned.create(
        team.actor(team.ada), name="Thanks", body="Thanks, {{ contact.first_name }}!"
    )

    item = _item(api.nora.post(f"tickets/{ticket.number}/replies", {"canned_answer": answer.pk}))
    both = api.nora.post(
        f"tickets/{ticket.number}/replies", {"canned_answer": answer.pk, "body_text": "x"}
    )

    assert item.outgoing.reply_text == "Thanks, Ann!"
    assert (both.status, both.json()["field"]) == (422, "canned_answer")


def test_a_multipart_reply_carries_attachments(api, ticket):
    body = encode_multipart(
        BOUNDARY,
        {
            "body_text": "The manual is attached.",
            "to": "ann@acme.example, it@acme.example",
            "attachments": [_upload("manual.pdf", b"%PDF-1.4 manual"), _upload("a.txt", b"a")],
        },
    )

    answer = api.nora.call(
        "POST",
        f"tickets/{ticket.number}/replies",
        body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )

    item = _item(answer)
    assert item.outgoing.to == ["ann@acme.example", "it@acme.example"]
    assert sorted(a.filename for a in item.outgoing.attachments.all()) == ["a.txt", "manual.pdf"]


def test_a_multipart_reply_is_validated_like_json(api, ticket):
    body = encode_multipart(BOUNDARY, {"body_text": "x", "status": "done"})

    answer = api.nora.call(
        "POST",
        f"tickets/{ticket.number}/replies",
        body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )

    assert (answer.status, answer.json()["field"]) == (422, "status")


def test_an_empty_reply_is_refused_and_nothing_is_queued(api, ticket):
    answer = api.nora.post(f"tickets/{ticket.number}/replies", {"body_text": "  "})

    assert answer.status == 422 and "empty" in answer.json()["detail"]
    assert not OutboxItem.objects.exists()


def test_notes_are_listed_and_added(api, team, ticket):
    added = api.sam.post(f"tickets/{ticket.number}/notes", {"body": "Call Ann back."})

    assert added.status == 201 and added.json()["author"]["email"] == "sam@helpdesk.example"
    listed = api.nora.get(f"tickets/{ticket.number}/notes").json()
    assert [(n["kind"], n["body"]) for n in listed] == [("note", "Call Ann back.")]
    assert InternalNote.objects.get().author == team.sam
    empty = api.nora.post(f"tickets/{ticket.number}/notes", {"body": ""})
    assert (empty.status, empty.json()["field"]) == (422, "body")


def test_a_forward_sends_the_latest_customer_mail_to_a_third_party(api, team, ticket):
    item = _item(
        api.nora.post(
            f"tickets/{ticket.number}/forwards",
            {"to": ["vendor@example.net"], "body_text": "Can you help?"},
        )
    )
    other = customer_ticket(team.north, subject="Other")
    foreign = api.nora.post(
        f"tickets/{ticket.number}/forwards",
        {"to": ["vendor@example.net"], "message": other.messages.get().pk},
    )

    assert item.kind == "forward" and item.outgoing.to == ["vendor@example.net"]
    assert (foreign.status, foreign.json()["field"]) == (422, "message")


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")
