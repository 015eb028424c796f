"""Answering: the composer's defaults, sending, drafts, the collision check, undo send,
canned answers, attachments, forwards, notes with @mentions, new outbound tickets."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from deskmail.console.tests.conftest import World, north_mail
from deskmail.events.models import Event
from deskmail.ingest.api import ingest
from deskmail.outbound.models import CannedAnswer, OutboxItem
from deskmail.outbound.send import send_due
from deskmail.services import compose
from deskmail.services.errors import Invalid
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Draft, Message, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def nora(world: World):
    return world.client(world.team.nora)


@pytest.fixture
def ticket(world: World) -> Ticket:
    """A ticket with a customer, a colleague in Cc, and our own address in Cc."""
    return north_mail(
        world.team,
        subject="Printer",
        sender="Ann <ann@acme.example>",
        cc=["Bob <bob@acme.example>", world.team.north.address, "help@south.invalid"],
    )


def _reply(client, ticket: Ticket, **data):
    data.setdefault("opened_at", timezone.now().isoformat())
    return client.post(f"/t/{ticket.number}/reply/", data)


def test_the_composer_offers_the_recipients_rules_never_our_own_addresses(world, nora, ticket):
    page = nora.get(f"/t/{ticket.number}/").content.decode()

    assert 'name="to" id="reply-to" value="ann@acme.example"' in page
    cc = page.split('name="cc" id="reply-cc" value="', 1)[1].split('"', 1)[0]
    assert "bob@acme.example" in cc and world.team.north.address not in cc


def test_a_reply_reaches_the_outbox_with_the_recipients_and_an_undo_window(world, nora, ticket):
    response = _reply(nora, ticket, to="ann@acme.example", cc="bob@acme.example", body="Fixed.")

    assert response.status_code == 302
    item = OutboxItem.objects.get(ticket=ticket)
    assert item.outgoing.to == ["ann@acme.example"] and item.outgoing.cc == ["bob@acme.example"]
    assert item.agent == world.team.nora and item.status == "pending"
    assert item.send_after is not None and item.send_after > timezone.now()
    assert "Undo send" in nora.get(f"/t/{ticket.number}/").content.decode()


def test_send_and_set_status(world, nora, ticket):
    _reply(nora, ticket, to="ann@acme.example", body="Fixed.", status="pending")

    ticket.refresh_from_db()
    assert ticket.status == "pending"


def test_it_refuses_an_empty_reply_keeping_the_form(world, nora, ticket):
    response = _reply(nora, ticket, to="ann@acme.example", body="")

    assert response.status_code == 422 and not OutboxItem.objects.filter(ticket=ticket).exists()


def test_the_worker_leaves_a_reply_alone_until_its_undo_window_passed(world, nora, ticket):
    _reply(nora, ticket, to="ann@acme.example", body="Fixed.")
    item = OutboxItem.objects.get(ticket=ticket)
    sent: list[list[str]] = []

    class Sender:
        def open(self) -> None: ...
        def close(self) -> None: ...
        def send(self, envelope_from, recipients, raw):
            sent.append(recipients)
            return {}

    world.outbox.delete()  # the world's own reply has no undo window

    report = send_due(factory=lambda mailbox: Sender())
    assert report.sent == 0 and sent == []
    send_due(item.send_after + dt.timedelta(seconds=1), factory=lambda mailbox: Sender())
    item.refresh_from_db()
    assert item.status == "sent" and sent == [["ann@acme.example"]]


def test_undo_takes_the_reply_back_into_the_draft(world, nora, ticket):
    _reply(nora, ticket, to="ann@acme.example", body="Oops, wrong ticket.")
    item = OutboxItem.objects.get(ticket=ticket)
    message_id = item.message_id

    response = nora.post(f"/outbox/{item.pk}/undo/")

    assert response["Location"] == f"/t/{ticket.number}/?compose=reply#composer"
    assert not OutboxItem.objects.filter(pk=item.pk).exists()
    assert not Message.objects.filter(message_id=message_id).exists()
    ticket.refresh_from_db()
    assert message_id not in ticket.reply_references
    draft = Draft.objects.get(ticket=ticket, user=world.team.nora)
    assert draft.body == "Oops, wrong ticket." and draft.to == "ann@acme.example"
    assert "Oops, wrong ticket." in nora.get(f"/t/{ticket.number}/").content.decode()


def test_undo_is_refused_once_the_worker_took_the_mail(world, nora, ticket):
    _reply(nora, ticket, to="ann@acme.example", body="Fixed.")
    item = OutboxItem.objects.get(ticket=ticket)
    OutboxItem.objects.filter(pk=item.pk).update(status="sending", attempts=1)

    with pytest.raises(Invalid, match="too late"):
        compose.undo_send(world.team.actor(world.team.nora), item.pk)
    assert OutboxItem.objects.filter(pk=item.pk).exists()


def test_it_asks_before_sending_when_the_customer_wrote_meanwhile(world, nora, ticket):
    opened = timezone.now() - dt.timedelta(minutes=5)
    first = ticket.messages.get()
    first.received_at = opened - dt.timedelta(minutes=1)
    first.save(update_fields=["received_at"])
    ingest(
        world.team.north,
        make_email(
            to=world.team.north.address,
            sender="Ann <ann@acme.example>",
            subject="Re: Printer",
            in_reply_to=first.message_id,
            references=[first.message_id],
        ),
    )

    asked = _reply(nora, ticket, to="ann@acme.example", body="Fixed.", opened_at=opened.isoformat())

    assert asked.status_code == 409
    assert b"a new message from Ann" in asked.content and b"Send anyway" in asked.content
    assert b"Fixed." in asked.content
    assert not OutboxItem.objects.filter(ticket=ticket, kind="reply").exists()
    sent = _reply(
        nora,
        ticket,
        to="ann@acme.example",
        body="Fixed.",
        opened_at=opened.isoformat(),
        confirmed="True",
    )
    assert (
        sent.status_code == 302 and OutboxItem.objects.filter(ticket=ticket, kind="reply").exists()
    )


def test_it_asks_before_sending_when_a_colleague_replied_meanwhile(world, ticket):
    opened = timezone.now()
    sam = world.client(world.team.sam)
    _reply(sam, ticket, to="ann@acme.example", body="Sam's answer.")

    asked = _reply(
        world.client(world.team.nora),
        ticket,
        to="ann@acme.example",
        body="Mine.",
        opened_at=opened.isoformat(),
    )

    assert asked.status_code == 409 and b"replied at" in asked.content


def test_drafts_autosave_per_person_and_survive_a_reload_and_a_colleagues_edit(world, nora, ticket):
    saved = nora.post(
        f"/t/{ticket.number}/draft/",
        {"kind": "reply", "to": "ann@acme.example", "cc": "", "body": "Half a thought"},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200 and saved.content.startswith(b"Draft saved")
    world.client(world.team.sam).post(f"/t/{ticket.number}/field/status/", {"status": "pending"})

    page = nora.get(f"/t/{ticket.number}/").content.decode()
    assert "Half a thought</textarea>" in page
    assert (
        "Half a thought"
        not in world.client(world.team.sam).get(f"/t/{ticket.number}/").content.decode()
    )


def test_a_colleague_sees_who_is_replying(world, nora, ticket):
    nora.post(f"/t/{ticket.number}/draft/", {"kind": "reply", "to": "", "body": "Writing…"})

    shown = world.client(world.team.sam).get(f"/t/{ticket.number}/presence/").content.decode()

    assert "nora@helpdesk.example is replying" in shown
    assert "replying" not in nora.get(f"/t/{ticket.number}/presence/").content.decode()


def test_sending_discards_the_draft(world, nora, ticket):
    nora.post(f"/t/{ticket.number}/draft/", {"kind": "reply", "body": "Draft"})
    _reply(nora, ticket, to="ann@acme.example", body="Final")

    assert not Draft.objects.filter(ticket=ticket, kind="reply").exists()


def test_canned_answers_mailbox_first_with_variables_filled(world, nora, ticket):
    CannedAnswer.objects.create(name="Thanks", body="Global thanks")
    local = CannedAnswer.objects.create(
        mailbox=world.team.north,
        name="Thanks",
        body="Thanks {{ contact.first_name }}, #{{ ticket.number }}",
    )
    CannedAnswer.objects.create(mailbox=world.team.south, name="South only", body="no")

    page = nora.get(f"/t/{ticket.number}/").content.decode()
    assert "South only" not in page and page.count(">Thanks") == 1
    response = nora.post(
        f"/t/{ticket.number}/reply/",
        {"to": "ann@acme.example", "body": "Hello.", "canned": local.pk, "insert": "1"},
    )
    assert f"Hello.\n\nThanks Ann, #{ticket.number}</textarea>" in response.content.decode()


def test_it_refuses_more_attachments_than_the_mailbox_allows(world, nora, ticket):
    config = dict(world.team.north.config)
    config["replies"] = {**config.get("replies", {}), "max_attachments": 1}
    world.team.north.config = config
    world.team.north.save()
    files = [SimpleUploadedFile(f"f{n}.txt", b"x", "text/plain") for n in range(2)]

    response = nora.post(
        f"/t/{ticket.number}/reply/",
        {"to": "ann@acme.example", "body": "Files", "attachments": files},
    )

    assert response.status_code == 422
    assert b"2 files, but mailbox north sends at most 1 per mail" in response.content
    one = nora.post(
        f"/t/{ticket.number}/reply/",
        {
            "to": "ann@acme.example",
            "body": "File",
            "attachments": [SimpleUploadedFile("a.txt", b"hi")],
        },
    )
    assert one.status_code == 302
    assert OutboxItem.objects.get(ticket=ticket).outgoing.attachments.get().filename == "a.txt"


def test_it_forwards_with_the_previous_message_by_the_mailboxs_default(world, nora, ticket):
    page = nora.get(f"/t/{ticket.number}/?compose=forward").content.decode()
    assert 'name="include_previous" id="forward-include_previous" checked' in page
    message = ticket.messages.get()

    response = nora.post(
        f"/t/{ticket.number}/forward/",
        {"message": message.pk, "to": "vendor@printers.example", "body": "Can you help?"},
    )

    assert response.status_code == 302
    item = OutboxItem.objects.get(ticket=ticket, kind="forward")
    assert item.outgoing.to == ["vendor@printers.example"] and item.send_after is not None


def test_a_note_is_internal_and_tells_the_colleagues_it_mentions(world, nora, ticket):
    response = nora.post(f"/t/{ticket.number}/note/", {"body": "@sam can you call them?"})

    assert response.status_code == 302
    event = Event.objects.filter(kind="note.created").last()
    assert event is not None and event.data["mentions"] == [world.team.sam.pk]
    assert not OutboxItem.objects.filter(ticket=ticket).exists()
    assert "@sam can you call them?" in nora.get(f"/t/{ticket.number}/").content.decode()


def test_a_new_outbound_ticket_starts_with_our_mail(world, nora):
    response = nora.post(
        "/new/",
        {
            "mailbox": "north",
            "to": "dana@client.example",
            "subject": "Your order",
            "body": "Hello Dana",
        },
    )

    ticket = Ticket.objects.get(title="Your order")
    assert response["Location"] == f"/t/{ticket.number}/"
    assert ticket.mailbox == world.team.north and ticket.status == "pending"
    item = OutboxItem.objects.get(ticket=ticket)
    assert item.outgoing.to == ["dana@client.example"] and item.mailbox == world.team.north
    refused = world.client(world.team.stan).post(
        "/new/", {"mailbox": "north", "to": "x@y.example", "subject": "s", "body": "b"}
    )
    assert refused.status_code == 422


def test_a_failed_mail_shows_the_servers_words_and_can_be_retried(world, nora, ticket):
    _reply(nora, ticket, to="ann@acme.example", body="Fixed.")
    item = OutboxItem.objects.get(ticket=ticket)
    OutboxItem.objects.filter(pk=item.pk).update(
        status="failed", last_error="550 5.1.1 mailbox unavailable", attempts=3
    )

    page = nora.get(f"/t/{ticket.number}/").content.decode()
    assert "Failed: 550 5.1.1 mailbox unavailable" in page
    nora.post(f"/outbox/{item.pk}/retry/")
    item.refresh_from_db()
    assert item.status == "pending" and item.attempts == 0
