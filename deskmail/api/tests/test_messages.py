"""A ticket's messages, the raw .eml, attachments and the thread as a zip."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from deskmail.api.tests.conftest import customer_ticket
from deskmail.services import actions
from deskmail.tickets.blobs import read_raw

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(team):
    return customer_ticket(
        team.north,
        subject="Broken screen",
        body="Hello,\n\nthe screen flickers.\n\nAnn\n",
        html='<p>the screen <b>flickers</b></p><script>alert("x")</script>',
        attachments=[("photo.png", "image/png", b"\x89PNG fake"), ("ä ü.txt", "text/plain", b"x")],
    )


def test_it_lists_the_messages_in_order_with_everything_they_carry(api, team, ticket):
    actions.reply(team.actor(team.nora), ticket, body_text="Try turning it off and on.")

    first, ours = api.nora.get(f"tickets/{ticket.number}/messages").json()

    assert (first["direction"], ours["direction"]) == ("in", "out")
    assert first["from_address"] == "ann@acme.example" and first["subject"] == "Broken screen"
    assert "the screen flickers." in first["reply_text"]
    assert "<b>flickers</b>" in first["body_html"] and "<script" not in first["body_html"]
    assert first["headers"]["subject"] == ["Broken screen"]
    assert [step["step"] for step in first["trace"]][:2] == ["redelivery", "parse"]
    assert [a["filename"] for a in first["attachments"]] == ["photo.png", "ä ü.txt"]
    assert first["outbox"] is None
    assert ours["outbox"]["status"] == "pending" and ours["to"] == ["ann@acme.example"]
    assert ours["reply_text"] == "Try turning it off and on."


def test_it_serves_the_raw_eml_as_stored(api, ticket):
    message = ticket.messages.get()

    answer = api.nora.get(f"messages/{message.pk}/raw")

    assert answer.status == 200 and answer.content_type == "message/rfc822"
    assert answer.content == read_raw(message.raw_sha256)
    assert answer.headers["Content-Disposition"].startswith("attachment;")


def test_it_serves_attachments_as_downloads_by_id(api, ticket):
    message = ticket.messages.get()
    details = api.nora.get(f"messages/{message.pk}").json()["attachments"]
    photo, text = details

    content = api.nora.get(photo["url"])
    named = api.nora.get(text["url"])

    assert content.status == 200 and content.content == b"\x89PNG fake"
    assert content.content_type == "application/octet-stream"  # never rendered by a browser
    assert named.headers["Content-Disposition"] == (
        "attachment; filename=\"a_u.txt\"; filename*=UTF-8''%C3%A4%20%C3%BC.txt"
    )
    assert api.nora.get(f"attachments/{photo['id']}").json()["content_type"] == "image/png"
    assert api.stan.get(photo["url"]).status == 404


def test_it_zips_the_whole_thread(api, team, ticket):
    actions.reply(team.actor(team.nora), ticket, body_text="On it.")

    answer = api.nora.get(f"tickets/{ticket.number}/thread.zip")

    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.namelist() == ["ticket.json", "001-in.eml", "002-out.eml"]
    assert json.loads(archive.read("ticket.json"))["number"] == ticket.number
    assert b"Broken screen" in archive.read("001-in.eml")
