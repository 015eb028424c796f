"""Sender confirmation (`tickets.confirm_new_senders`), through the real pipeline (`ingest`):
a new sender's ticket waits, hidden, until a reply to our confirmation mail or its link
confirms it; then it opens as new. Unconfirmed in time, it is kept and marked."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from deskmail.events.models import Event
from deskmail.ingest.api import ingest
from deskmail.ingest.confirmation import Unconfirmable, confirm_link, expire_unconfirmed
from deskmail.ingest.tests.conftest import configure
from deskmail.ingest.trace import render
from deskmail.outbound.models import OutboxItem
from deskmail.services import queries
from deskmail.services.access import SYSTEM
from deskmail.services.queries import TicketFilter
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.tickets.models import InternalNote, Message, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db, settings):
    settings.DESKMAIL_PUBLIC_URL = "https://desk.example.com"
    mailbox = make_mailbox(
        "support",
        "SUP",
        "support@example.com",
        display_name="Example Support",
        outbound={"host": "127.0.0.1"},
        filters={"exclude_auto_replies": False, "sender_rate_limit": None},
        replies={"auto_acknowledge": True},
    )
    return configure(
        mailbox,
        tickets={"confirm_new_senders": True, "confirm_within_hours": 24, "queue": "Support"},
    )


def trace_of(message) -> str:
    return render(Message.objects.get(pk=message.pk).trace)


def listed(view: str) -> list[int]:
    page = queries.ticket_page(SYSTEM, TicketFilter(view=view))
    return [t.number for t in page.items]


def confirmation_of(ticket) -> OutboxItem:
    return OutboxItem.objects.get(ticket=ticket, kind="confirmation")


def test_a_new_senders_ticket_waits_hidden_and_they_are_asked_to_confirm(desk):
    result = ingest(desk, make_email(subject="Printer broken", message_id="ann-1@acme.example"))

    ticket = Ticket.objects.get(pk=result.ticket.pk)
    assert result.outcome == "new_ticket"
    assert ticket.confirmation == "awaiting"
    assert ticket.confirm_by is not None and ticket.queue is None
    assert listed("all") == [] and listed("open") == [] and listed("unassigned") == []
    assert listed("awaiting") == [ticket.number]
    assert queries.counts(SYSTEM)["all"] == 0 and queries.counts(SYSTEM)["awaiting"] == 1
    item = confirmation_of(ticket)
    assert (item.status, item.recipient) == ("pending", "ann@acme.example")
    out = item.outgoing
    assert out.subject == f"Please confirm: [SUP#{ticket.number}] Printer broken"
    assert out.in_reply_to == "ann-1@acme.example"
    assert out.headers["auto-submitted"] == ["auto-replied"]
    assert "reply to this mail, or open this link: https://desk.example.com/confirm/" in (
        out.body_text
    )
    assert not OutboxItem.objects.exclude(kind="confirmation").exists()  # no acknowledgement
    assert not Event.objects.filter(kind="ticket.created").exists()
    text = trace_of(result.message)
    assert "ann@acme.example is new to this mailbox: the ticket waits for their confirmation" in (
        text
    )
    assert "confirmation mail to ann@acme.example" in text
    assert "route              skip        the ticket waits for its sender's confirmation" in text


def test_a_known_sender_is_not_asked(desk):
    configure(desk, tickets={"confirm_new_senders": False})
    ingest(desk, make_email(subject="First"))
    configure(desk, tickets={"confirm_new_senders": True})

    second = ingest(desk, make_email(subject="Second"))

    assert Ticket.objects.get(pk=second.ticket.pk).confirmation == ""
    assert "ann@acme.example has written to this mailbox before" in trace_of(second.message)
    assert not OutboxItem.objects.filter(kind="confirmation").exists()


def test_a_reply_to_the_confirmation_opens_the_ticket_as_new(desk):
    first = ingest(desk, make_email(subject="Printer broken", message_id="ann-1@acme.example"))
    ticket = Ticket.objects.get(pk=first.ticket.pk)
    asked = confirmation_of(ticket)

    reply = ingest(
        desk,
        make_email(
            subject=f"Re: {asked.outgoing.subject}",
            in_reply_to=asked.message_id,
            references=["ann-1@acme.example", asked.message_id],
        ),
    )

    ticket.refresh_from_db()
    assert reply.ticket.pk == ticket.pk
    assert ticket.confirmation == "" and ticket.confirm_nonce == ""
    assert ticket.queue is not None and ticket.queue.name == "Support"
    assert listed("open") == [ticket.number]
    assert OutboxItem.objects.filter(ticket=ticket, kind="auto_ack").count() == 1
    assert Event.objects.filter(kind="ticket.created", ticket_id=ticket.pk).count() == 1
    assert f"ann@acme.example replied to the confirmation mail <{asked.message_id}>" in (
        trace_of(reply.message)
    )
    text = trace_of(first.message)
    assert "confirm_sender     confirmed" in text and "route              routed" in text
    assert "acknowledgement to ann@acme.example" in text


def test_an_automatic_answer_or_another_sender_confirms_nothing(desk):
    first = ingest(desk, make_email(subject="Printer broken"))
    asked = confirmation_of(first.ticket)
    vacation = make_email(
        subject=f"Automatic reply: {asked.outgoing.subject}",
        in_reply_to=asked.message_id,
        headers={"Auto-Submitted": "auto-replied"},
    )
    stranger = make_email(sender="eve@elsewhere.example", in_reply_to=asked.message_id)

    results = [ingest(desk, vacation), ingest(desk, stranger)]

    assert Ticket.objects.get(pk=first.ticket.pk).confirmation == "awaiting"
    assert "an automatic mail confirms nothing" in trace_of(results[0].message)
    assert "eve@elsewhere.example is not ann@acme.example" in trace_of(results[1].message)
    assert listed("open") == []


def test_the_link_confirms_once_and_expires(desk):
    first = ingest(desk, make_email(subject="Printer broken"))
    body = confirmation_of(first.ticket).outgoing.body_text
    token = re.search(r"https://desk\.example\.com/confirm/([^/\s]+)/", body).group(1)

    ticket = confirm_link(token)

    assert ticket.confirmation == "" and listed("open") == [ticket.number]
    assert "ann@acme.example opened the confirmation link: the ticket opens" in (
        trace_of(first.message)
    )
    with pytest.raises(Unconfirmable, match="used already"):
        confirm_link(token)
    with pytest.raises(Unconfirmable, match="not one of ours"):
        confirm_link(token[:-2] + "xx")

    late = ingest(desk, make_email(sender="bob@acme.example", subject="Late"))
    body = confirmation_of(late.ticket).outgoing.body_text
    token = re.search(r"/confirm/([^/\s]+)/", body).group(1)
    with pytest.raises(Unconfirmable, match="expired"):
        confirm_link(token, now=timezone.now() + dt.timedelta(hours=25))


@pytest.mark.parametrize(
    ("sender", "headers", "words"),
    [
        ("ann@acme.example", {"Auto-Submitted": "auto-replied"}, "the mail is automatic"),
        ("ann@acme.example", {"List-Id": "<printers.acme.example>"}, "mailing list"),
        ("MAILER-DAEMON@acme.example", {}, "a mail system, not a person"),
    ],
)
def test_no_confirmation_goes_to_automatic_mail_but_the_ticket_waits(desk, sender, headers, words):
    result = ingest(desk, make_email(sender=sender, headers=headers))

    assert Ticket.objects.get(pk=result.ticket.pk).confirmation == "awaiting"
    assert not OutboxItem.objects.exists()
    assert "no confirmation mail: " in trace_of(result.message)
    assert words in trace_of(result.message)


def test_our_own_mail_waits_for_nothing(desk):
    result = ingest(desk, make_email(sender="support@example.com", to="ann@acme.example"))

    assert Ticket.objects.get(pk=result.ticket.pk).confirmation == ""
    assert not OutboxItem.objects.filter(kind="confirmation").exists()


def test_confirmations_are_limited_per_sender_address(desk):
    configure(desk, tickets={"confirmations_per_day": 2})

    results = [ingest(desk, make_email(subject=f"Question {n}")) for n in range(3)]

    assert OutboxItem.objects.filter(kind="confirmation").count() == 2
    assert all(Ticket.objects.get(pk=r.ticket.pk).confirmation == "awaiting" for r in results)
    assert "rate limit: ann@acme.example got 2 confirmation mails in 24 hours" in (
        trace_of(results[2].message)
    )


def test_history_is_never_held(desk):
    result = ingest(desk, make_email(), history=True)

    assert Ticket.objects.get(pk=result.ticket.pk).confirmation == ""
    assert "history import: never held" in trace_of(result.message)


def test_unconfirmed_in_time_it_is_kept_and_marked_never_deleted(desk):
    result = ingest(desk, make_email(subject="Printer broken", message_id="ann-1@acme.example"))
    ticket = Ticket.objects.get(pk=result.ticket.pk)

    assert expire_unconfirmed(timezone.now()) == []
    assert expire_unconfirmed(timezone.now() + dt.timedelta(hours=25)) == [ticket.number]

    ticket.refresh_from_db()
    assert ticket.confirmation == "unconfirmed"
    assert listed("open") == [] and listed("awaiting") == [ticket.number]
    assert Message.objects.filter(ticket=ticket).filter(direction="in").count() == 1
    note = InternalNote.objects.get(ticket=ticket)
    assert note.body.startswith("No confirmation from ann@acme.example by ")
    assert note.body.endswith(" UTC: kept, unconfirmed.")
    out = io.StringIO()
    call_command("trace", "ann-1@acme.example", stdout=out)
    assert "confirm_sender" in out.getvalue() and "kept, unconfirmed" in out.getvalue()
    with pytest.raises(Unconfirmable):
        token = re.search(r"/confirm/([^/\s]+)/", confirmation_of(ticket).outgoing.body_text)
        confirm_link(token.group(1))
