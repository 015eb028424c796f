"""A mailbox that takes no new tickets (`tickets.allow_new_tickets: false`), through the real
pipeline (`ingest`): new mail is kept and marked, replies still thread, the optional answer
goes through the outbox with the automatic-answer guards."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.ingest.trace import render
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import queue_reply
from deskmail.services import access, queries
from deskmail.services.access import SYSTEM, Role
from deskmail.services.errors import Forbidden, NotFound
from deskmail.services.people import create_user
from deskmail.testing.builders import make_email, make_mailbox, message_id_of
from deskmail.tickets.models import Counter, Message, Ticket

pytestmark = pytest.mark.django_db

REFUSAL = {
    "name": "no_new",
    "subject": "We take no new requests here: {{ ticket.title }}",
    "body": "<p>Hello {{ contact.first_name }}, please write to {{ mailbox.address }}'s "
    "new address instead.</p>",
}


@pytest.fixture
def desk(db):
    return make_mailbox(
        "support",
        "SUP",
        "support@example.com",
        display_name="Example Support",
        outbound={"host": "127.0.0.1"},
        filters={"exclude_auto_replies": False, "sender_rate_limit": None},
        replies={"auto_acknowledge": True},
    )


def closed_to_new(mailbox, reply: str | None = "no_new", **routing):
    return configure(
        mailbox,
        tickets={"allow_new_tickets": False, "no_new_tickets_reply": reply},
        routing={"templates": [REFUSAL], **routing},
    )


def stored_trace(result) -> list[dict]:
    return Message.objects.get(pk=result.message.pk).trace


def test_new_mail_is_kept_marked_and_opens_no_ticket(desk):
    closed_to_new(desk, reply=None)
    raw = make_email(subject="Printer broken", message_id="ann-1@acme.example")
    before = Counter.objects.filter(name="ticket").values_list("value", flat=True).first()

    result = ingest(desk, raw)

    assert result.outcome == "excluded"
    assert result.ticket is None
    assert not Ticket.objects.exists()
    message = Message.objects.get(message_id="ann-1@acme.example")
    assert message.ticket is None and message.excluded
    assert message.excluded_reason == "no new tickets from this mailbox"
    assert message.raw_sha256 and message.raw_size == len(raw)
    # No ticket number was taken, no acknowledgement or answer queued.
    after = Counter.objects.filter(name="ticket").values_list("value", flat=True).first()
    assert after == before
    assert not OutboxItem.objects.exists()
    text = render(stored_trace(result))
    assert "no new tickets from this mailbox (tickets.allow_new_tickets is off): kept" in text
    assert "no reply configured (tickets.no_new_tickets_reply)" in text
    assert "open_ticket" not in text


def test_replies_to_existing_tickets_still_thread(desk):
    first = ingest(desk, make_email(subject="Printer broken", message_id="ann-1@acme.example"))
    ticket = Ticket.objects.get(pk=first.ticket.pk)
    closed_to_new(desk)
    answer = queue_reply(ticket, body_text="Which printer?")

    reply = ingest(
        desk,
        make_email(
            subject=f"Re: [SUP#{ticket.number}] Printer broken",
            in_reply_to=answer.message_id,
            references=["ann-1@acme.example", answer.message_id],
        ),
    )

    assert reply.outcome == "appended"
    assert reply.ticket.pk == ticket.pk
    assert not Message.objects.get(pk=reply.message.pk).excluded
    assert f"belongs to ticket #{ticket.number}" in render(stored_trace(reply))
    assert not OutboxItem.objects.filter(kind="notice").exists()


def test_the_sender_gets_the_template_in_their_thread_through_the_outbox(desk):
    closed_to_new(desk)
    raw = make_email(subject="Printer broken", message_id="ann-1@acme.example")

    result = ingest(desk, raw)

    item = OutboxItem.objects.get()
    assert (item.kind, item.status, item.recipient) == ("notice", "pending", "ann@acme.example")
    assert item.ticket is None
    out = item.outgoing
    assert out.ticket is None and out.direction == "out"
    assert out.subject == "We take no new requests here: Printer broken"
    assert out.in_reply_to == message_id_of(raw)
    assert out.headers["auto-submitted"] == ["auto-replied"]
    assert "Hello Ann, please write to support@example.com" in out.body_text
    assert "reply 'no_new' to ann@acme.example" in render(stored_trace(result))


@pytest.mark.parametrize(
    ("sender", "headers", "words"),
    [
        ("ann@acme.example", {"Auto-Submitted": "auto-replied"}, "the mail is automatic"),
        ("ann@acme.example", {"List-Id": "<printers.acme.example>"}, "mailing list"),
        ("ann@acme.example", {"Precedence": "bulk"}, "automatic"),
        ("ann@acme.example", {"X-Auto-Response-Suppress": "All"}, "asked for no automatic"),
        ("MAILER-DAEMON@acme.example", {}, "a mail system, not a person"),
        ("support@example.com", {}, "one of our own addresses"),
    ],
)
def test_automatic_mail_lists_and_our_own_mail_get_no_answer(desk, sender, headers, words):
    closed_to_new(desk)

    result = ingest(desk, make_email(sender=sender, headers=headers))

    assert result.outcome == "excluded"
    assert not OutboxItem.objects.exists()
    assert "no reply 'no_new': " in render(stored_trace(result))
    assert words in render(stored_trace(result))


def test_a_bounce_gets_no_answer(desk):
    closed_to_new(desk)
    bounce = make_email(
        sender="MAILER-DAEMON@mx.acme.example",
        subject="Undelivered Mail Returned to Sender",
        headers={"Auto-Submitted": "auto-replied"},
    )

    result = ingest(desk, bounce)

    assert result.ticket is None
    assert not OutboxItem.objects.exists()


def test_answers_are_limited_per_sender_and_hour(desk):
    closed_to_new(desk, auto_replies_per_hour=2)

    results = [ingest(desk, make_email(subject=f"Question {n}")) for n in range(3)]

    assert OutboxItem.objects.filter(kind="notice").count() == 2
    assert "rate limit: ann@acme.example got 2 auto-replies" in render(stored_trace(results[2]))
    assert all(r.outcome == "excluded" for r in results)


def test_history_imports_are_kept_and_never_answered(desk):
    closed_to_new(desk)

    result = ingest(desk, make_email(), history=True)

    assert result.outcome == "excluded"
    assert not OutboxItem.objects.exists()
    assert "history import: never answered" in render(stored_trace(result))


def test_an_admin_finds_kept_mail_and_its_trace(desk):
    closed_to_new(desk, reply=None)
    result = ingest(desk, make_email(subject="Printer broken", message_id="ann-1@acme.example"))
    bob = make_email(subject="Fine", message_id="bob-1@acme.example", sender="bob@acme.example")
    ingest(desk, bob)

    found = queries.kept_mail(SYSTEM, reason="no new tickets")
    assert [m.message_id for m in found] == ["bob-1@acme.example", "ann-1@acme.example"]
    assert access.traced_message(SYSTEM, result.message.pk).pk == result.message.pk
    agent = access.actor_for(
        create_user(SYSTEM, "alice@example.com", Role.AGENT, mailboxes=["support"])
    )
    with pytest.raises(Forbidden):
        queries.kept_mail(agent)
    with pytest.raises(NotFound):
        access.traced_message(agent, result.message.pk)

    out = io.StringIO()
    call_command("quarantine", "list", "--kept", "--json", stdout=out)
    rows = json.loads(out.getvalue())
    assert {r["message_id"] for r in rows} == {"ann-1@acme.example", "bob-1@acme.example"}
    assert {r["reason"] for r in rows} == {"no new tickets from this mailbox"}

    out = io.StringIO()
    call_command("trace", "ann-1@acme.example", stdout=out)
    text = out.getvalue()
    assert "Outcome:    no ticket, excluded (no new tickets from this mailbox)" in text
    assert "new_tickets" in text and "tickets.allow_new_tickets is off" in text


def test_switched_on_again_new_mail_opens_tickets(desk):
    closed_to_new(desk)
    configure(desk, tickets={"allow_new_tickets": True})

    result = ingest(desk, make_email())

    assert result.outcome == "new_ticket"
    assert "new tickets are allowed" in render(stored_trace(result))
