"""Filters: allowed domains, blocked senders, rate limit, auto-replies, bounces and loops."""

import pytest

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.outbound.models import OutboxItem
from deskmail.testing.builders import make_email, message_id_of
from deskmail.tickets.models import InternalNote, Message, Ticket

pytestmark = pytest.mark.django_db


def excluded(result):
    return result.outcome == "excluded" and result.message.excluded


def test_it_allows_only_the_listed_domains_and_their_subdomains(support):
    configure(support, filters={"allowed_domains": ["example.org"]})
    assert ingest(support, make_email(sender="a@example.org")).outcome == "new_ticket"
    assert ingest(support, make_email(sender="b@eu.example.org")).outcome == "new_ticket"
    assert excluded(ingest(support, make_email(sender="c@evil-example.org")))
    assert excluded(ingest(support, make_email(sender="d@example.org.evil.net")))
    assert excluded(ingest(support, make_email(sender="e@other.example")))


def test_it_takes_no_ticket_number_for_excluded_mail(support):
    configure(support, filters={"blocked_senders": ["spam@junk.example"]})
    first = ingest(support, make_email(sender="ann@acme.example"))
    ingest(support, make_email(sender="spam@junk.example"))
    third = ingest(support, make_email(sender="bob@acme.example"))
    assert (first.ticket.number, third.ticket.number) == (1, 2)


def test_it_blocks_senders_by_address_and_by_domain(support):
    configure(support, filters={"blocked_senders": ["spam@junk.example", "@bad.example"]})
    assert excluded(ingest(support, make_email(sender="spam@junk.example")))
    assert excluded(ingest(support, make_email(sender="anyone@bad.example")))
    assert excluded(ingest(support, make_email(sender="x@mx.bad.example")))
    assert ingest(support, make_email(sender="fine@junk.example")).outcome == "new_ticket"
    assert ingest(support, make_email(sender="y@notbad.example")).outcome == "new_ticket"


def test_it_keeps_excluded_mail_with_its_reason(support):
    configure(support, filters={"blocked_senders": ["spam@junk.example"]})
    result = ingest(support, make_email(sender="spam@junk.example"))
    stored = Message.objects.get(pk=result.message.pk)
    assert stored.excluded and "blocked" in stored.excluded_reason
    assert stored.ticket is None
    assert stored.trace[-1]["step"] == "blocked_senders"


def test_it_applies_filters_to_replies_into_existing_tickets(support):
    first = make_email(sender="ann@acme.example")
    a = ingest(support, first)
    configure(support, filters={"blocked_senders": ["ann@acme.example"]})
    reply = make_email(
        sender="ann@acme.example", in_reply_to=message_id_of(first), subject="Re: Printer broken"
    )
    assert excluded(ingest(support, reply))
    assert a.ticket.messages.count() == 1


def test_it_stops_a_sender_mailing_faster_than_the_limit(support):
    configure(support, filters={"sender_rate_limit": {"max": 3, "per_minutes": 60}})
    outcomes = [
        ingest(support, make_email(sender="bot@acme.example", subject=f"Alert {n}")).outcome
        for n in range(5)
    ]
    assert outcomes == ["new_ticket"] * 3 + ["excluded"] * 2
    assert ingest(support, make_email(sender="human@acme.example")).outcome == "new_ticket"


def test_it_does_not_rate_limit_history_imports(support):
    configure(support, filters={"sender_rate_limit": {"max": 2, "per_minutes": 60}})
    results = [
        ingest(support, make_email(subject=f"Old {n}"), history=True).outcome for n in range(4)
    ]
    assert results == ["new_ticket"] * 4


def test_it_excludes_auto_replies_by_header(support):
    raw = make_email(subject="Printer", headers={"Auto-Submitted": "auto-replied"})
    result = ingest(support, raw)
    assert excluded(result) and "auto-reply" in result.message.excluded_reason
    assert not OutboxItem.objects.exists()


def test_it_excludes_auto_replies_by_subject_keyword_in_any_case(support):
    result = ingest(support, make_email(subject="AUTOMATIC REPLY: away until Monday"))
    assert excluded(result)


def test_it_keeps_auto_replies_as_tickets_but_never_acknowledges_them(support):
    configure(support, filters={"exclude_auto_replies": False})
    result = ingest(support, make_email(subject="Out of office"))
    assert result.outcome == "new_ticket"
    assert not OutboxItem.objects.exists()


def test_it_stops_mail_carrying_our_x_loop_header(support):
    raw = make_email(headers={"X-Loop": "support@example.com"})
    result = ingest(support, raw)
    assert excluded(result) and "loop" in result.message.excluded_reason
    assert ingest(support, make_email(headers={"X-Loop": "other@else.example"})).ticket


def test_it_stops_our_own_outgoing_mail_coming_back(support):
    a = ingest(support, make_email())
    ours = Message.objects.create(
        ticket=a.ticket,
        mailbox=support,
        direction=Message.Direction.OUT,
        message_id="out-1@support.example.com",
        raw_sha256="0" * 64,
        received_at=a.message.received_at,
    )
    back = make_email(sender="support@example.com", message_id=ours.message_id)
    result = ingest(support, back)
    assert result.outcome == "excluded"
    assert result.trace[-1].verdict == "loop"
    assert Message.objects.count() == 2


def dsn(original_id: str) -> bytes:
    """A delivery-status notification (RFC 3464) as Postfix sends it."""
    return (
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
        "To: support@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.com>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; gone@acme.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@example.com\r\nMessage-ID: <{original_id}>\r\nSubject: Re: x\r\n"
        "--B--\r\n"
    ).encode()


def test_it_files_a_bounce_as_a_delivery_failure_note_on_its_ticket(support):
    a = ingest(support, make_email())
    Message.objects.create(
        ticket=a.ticket,
        mailbox=support,
        direction=Message.Direction.OUT,
        message_id="out-7@support.example.com",
        raw_sha256="0" * 64,
        received_at=a.message.received_at,
    )
    result = ingest(support, dsn("out-7@support.example.com"))
    assert result.outcome == "excluded"
    assert result.ticket.pk == a.ticket.pk
    note = InternalNote.objects.get()
    assert note.kind == "delivery_failure" and note.ticket_id == a.ticket.pk
    assert Ticket.objects.count() == 1
    assert OutboxItem.objects.count() == 1  # only the first mail's acknowledgement


def test_it_keeps_a_bounce_of_an_unknown_mail_without_a_ticket(support):
    result = ingest(support, dsn("never-sent@example.com"))
    assert excluded(result) and result.ticket is None
    assert not Ticket.objects.exists()


def test_it_stops_mail_with_our_signed_message_id_coming_back(support):
    from deskmail.outbound.tokens import new_message_id as signed_id

    a = ingest(support, make_email())
    back = make_email(message_id=signed_id(a.ticket.number, "support@example.com"))
    result = ingest(support, back)
    assert excluded(result) and "loop" in result.message.excluded_reason


def test_it_excludes_mail_without_the_headers_of_the_header_filter(support):
    configure(
        support,
        inbound={"protocol": "forward", "header_filter": "x-antivirus-report=SAFE"},
    )
    clean = ingest(support, make_email(headers={"X-Antivirus-Report": "SAFE"}))
    dirty = ingest(support, make_email(headers={"X-Antivirus-Report": "INFECTED"}))
    bare = ingest(support, make_email())
    assert clean.outcome == "new_ticket"
    assert excluded(dirty) and excluded(bare)
    assert "header filter" in bare.message.excluded_reason


def test_it_imports_our_own_sent_mail_from_an_archive_as_outgoing(support):
    first = make_email(subject="Printer broken")
    ingest(support, first, history=True)
    ours = make_email(
        sender="support@example.com",
        to="ann@acme.example",
        subject="Re: Printer broken",
        in_reply_to=message_id_of(first),
        headers={"X-Loop": "support@example.com"},
    )
    imported = ingest(support, ours, history=True)
    live = ingest(
        support, make_email(sender="support@example.com", headers={"X-Loop": "support@example.com"})
    )
    assert imported.outcome == "appended" and imported.message.direction == "out"
    assert excluded(live)
