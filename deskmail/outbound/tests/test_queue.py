"""Queueing replies: headers that thread, recipients, the sending mailbox, refusals."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest
from deskmail.outbound.compose import OutgoingAttachment
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import OutboundError, queue_reply
from deskmail.outbound.tests.helpers import built, customer_ticket, ids, support_mailbox, text_of
from deskmail.outbound.tokens import ticket_from_token
from deskmail.testing.builders import make_email, make_mailbox
from deskmail.tickets.models import Counter, Message, Ticket

pytestmark = pytest.mark.django_db


def test_it_threads_a_reply_under_the_customers_mail() -> None:
    mailbox = support_mailbox(reply_to="replies@example.com")
    ticket, first = customer_ticket(mailbox, subject="Printer broken", message_id="m1@acme.example")
    ingest(
        mailbox,
        make_email(
            sender="ann@acme.example",
            subject="Re: Printer broken",
            message_id="m2@acme.example",
            in_reply_to="m1@acme.example",
            references=["m1@acme.example"],
        ),
    )

    item = queue_reply(ticket, body_text="We are on it.")
    msg = built(item)

    assert msg["In-Reply-To"] == "<m2@acme.example>"
    assert ids(msg["References"]) == ["m1@acme.example", "m2@acme.example"]
    assert msg["Subject"] == f"Re: [SUP#{ticket.number}] Printer broken"
    assert msg["From"] == "Example Support <support@example.com>"
    assert msg["Reply-To"] == "replies@example.com"
    assert msg["X-Loop"] == "support@example.com"
    assert msg["Auto-Submitted"] is None
    assert msg["Message-ID"] == f"<{item.message_id}>"
    assert ticket_from_token(item.message_id) == ticket.number


def test_it_stores_the_outgoing_message_with_the_outbox_row() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)

    item = queue_reply(ticket, body_text="Done.")

    message = Message.objects.get(message_id=item.message_id)
    assert message.direction == Message.Direction.OUT
    assert message.ticket_id == ticket.pk
    assert item.outgoing_id == message.pk
    assert item.status == OutboxItem.Status.PENDING
    assert message.headers["x-loop"] == ["support@example.com"]
    assert message.headers["message-id"] == [f"<{item.message_id}>"]
    ticket.refresh_from_db()
    assert ticket.reply_references[-1] == item.message_id


def test_it_chains_a_second_reply_from_the_first() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox, message_id="m1@acme.example")

    first = queue_reply(ticket, body_text="One.")
    second = queue_reply(ticket, body_text="Two.")

    assert ids(built(second)["References"]) == [first.message_id, "m1@acme.example"]


def test_it_addresses_the_contact_and_ccs_the_latest_other_sender() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(
        mailbox,
        message_id="m1@acme.example",
        cc="Boss <boss@acme.example>, help@example.com",
    )
    ingest(
        mailbox,
        make_email(
            sender="carl@acme.example",
            to="support@example.com",
            subject="Re: Printer broken",
            in_reply_to="m1@acme.example",
            references=["m1@acme.example"],
        ),
    )

    msg = built(queue_reply(ticket, body_text="Hello all."))

    assert msg["To"] == "ann@acme.example"
    assert msg["Cc"] == "carl@acme.example"


def test_it_lets_the_agent_edit_the_recipients_but_never_mails_our_own_addresses() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox, cc="boss@acme.example")

    msg = built(
        queue_reply(
            ticket,
            body_text="Hi.",
            to=["ann@acme.example", "support@example.com"],
            cc=["Help <HELP@example.com>", "dora@acme.example"],
        )
    )

    assert msg["To"] == "ann@acme.example"
    assert msg["Cc"] == "dora@acme.example"


def test_it_refuses_a_reply_with_nobody_left_to_mail() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)

    with pytest.raises(OutboundError, match="no address"):
        queue_reply(ticket, body_text="Hi.", to=["help@example.com"])
    assert not OutboxItem.objects.exists()


def test_it_refuses_to_send_from_a_receive_only_mailbox() -> None:
    mailbox = support_mailbox(purpose="receive")
    ticket, _ = customer_ticket(mailbox)

    with pytest.raises(OutboundError, match="only receives"):
        queue_reply(ticket, body_text="Hi.")
    assert not Message.objects.filter(direction=Message.Direction.OUT).exists()


def test_it_sends_a_ticket_that_came_by_no_mail_from_the_default_mailbox(settings) -> None:
    intake = make_mailbox("intake", "INT", "intake@example.com", purpose="receive")
    support_mailbox()
    settings.DESKMAIL_DEFAULT_SENDING_MAILBOX = "support"
    ticket = Ticket.objects.create(
        number=Counter.next("ticket"),
        mailbox=intake,
        title="Phoned in: VPN down",
        reply_to="ann@acme.example",
        first_mail_at="2026-11-01T10:00:00Z",
    )

    item = queue_reply(ticket, body_text="As discussed on the phone.")
    msg = built(item)

    assert msg["From"] == "Example Support <support@example.com>"
    assert msg["Subject"] == f"Re: [SUP#{ticket.number}] Phoned in: VPN down"
    assert msg["In-Reply-To"] is None
    assert item.message_id.endswith("@example.com")


def test_it_replies_to_a_grouped_ticket_with_the_tickets_title() -> None:
    mailbox = support_mailbox(threading={"combine_same_subject": {"within_hours": 72}})
    ticket, _ = customer_ticket(mailbox, subject="Printer broken")
    again, _ = customer_ticket(mailbox, subject="Fwd: printer BROKEN")
    assert again.pk == ticket.pk

    msg = built(queue_reply(ticket, body_text="Fixed."))

    assert msg["Subject"] == f"Re: [SUP#{ticket.number}] Printer broken"


def test_it_leaves_the_tag_out_when_the_mailbox_turns_it_off() -> None:
    mailbox = support_mailbox(threading={"subject_tag": False})
    ticket, _ = customer_ticket(mailbox, subject="Re: AW: Printer broken")

    assert built(queue_reply(ticket, body_text="Fixed."))["Subject"] == "Re: Printer broken"


def test_it_refuses_more_attachments_than_the_mailbox_allows() -> None:
    mailbox = support_mailbox(replies={"max_attachments": 1})
    ticket, _ = customer_ticket(mailbox)
    files = [OutgoingAttachment(f"f{n}.txt", "text/plain", b"x") for n in range(2)]

    with pytest.raises(OutboundError, match="at most 1"):
        queue_reply(ticket, body_text="Files.", attachments=files)
    item = queue_reply(ticket, body_text="File.", attachments=files[:1])

    names = [part.get_filename() for part in built(item).iter_attachments()]
    assert names == ["f0.txt"]
    assert item.outgoing.attachments.get().filename == "f0.txt"


def test_it_moves_the_ticket_in_the_same_commit() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)

    queue_reply(ticket, body_text="Waiting for you.", status=Ticket.Status.PENDING)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING
    item = queue_reply(ticket, body_text="All done.", status=Ticket.Status.RESOLVED)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED
    assert ticket.resolved_at == item.outgoing.received_at


def test_it_sends_text_with_an_html_alternative() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)

    msg = built(queue_reply(ticket, body_text="Line one\nLine <two> & more"))

    assert msg.get_content_type() == "multipart/alternative"
    assert "Line <two> & more" in text_of(msg)
    assert "Line &lt;two&gt; &amp; more" in msg.get_body(("html",)).get_content()


def test_its_signed_message_id_brings_an_answer_back_without_the_stored_reply() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox, subject="Printer broken")
    item = queue_reply(ticket, body_text="Try this.")
    # As after restoring an older backup: the reply's message row is gone.
    Message.objects.filter(message_id=item.message_id).delete()

    result = ingest(
        mailbox,
        make_email(
            sender="ann@acme.example",
            subject="something else entirely",
            references=["lost@elsewhere.example", item.message_id],
        ),
    )

    assert result.ticket is not None and result.ticket.pk == ticket.pk


def test_it_gives_a_bulk_created_acknowledgement_a_message_id_when_composing() -> None:
    from deskmail.outbound.queue import compose_auto_ack

    mailbox = support_mailbox(replies={"auto_acknowledge": True})
    ticket, _ = customer_ticket(mailbox)
    OutboxItem.objects.all().delete()
    (item,) = OutboxItem.objects.bulk_create([OutboxItem(kind="auto_ack", ticket=ticket)])
    item = OutboxItem.objects.get()

    assert item.message_id is None and compose_auto_ack(item)
    assert ticket_from_token(built(item)["Message-ID"]) == ticket.number
