"""What our mail says: templates, the end-of-message marker, the footer, canned answers."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest
from deskmail.outbound.canned import canned_answers_for, render_canned
from deskmail.outbound.models import CannedAnswer, MailboxTemplate, OutboxItem
from deskmail.outbound.queue import queue_forward, queue_reply
from deskmail.outbound.tests.helpers import (
    built,
    customer_ticket,
    html_of,
    support_mailbox,
    text_of,
)
from deskmail.testing.builders import make_email, make_mailbox

pytestmark = pytest.mark.django_db

MARKER = "##- Please type your reply above this line -##"


def test_it_puts_the_end_of_message_marker_on_top() -> None:
    mailbox = support_mailbox(replies={"end_of_message_marker": MARKER})
    ticket, _ = customer_ticket(mailbox)

    msg = built(queue_reply(ticket, body_text="The answer."))

    text = text_of(msg)
    assert text.index(MARKER) < text.index("The answer.")
    assert html_of(msg).index(MARKER) < html_of(msg).index("The answer.")


def test_it_strips_a_customers_answer_below_the_marker_when_it_comes_back() -> None:
    mailbox = support_mailbox(replies={"end_of_message_marker": MARKER})
    ticket, _ = customer_ticket(mailbox)
    item = queue_reply(ticket, body_text="The answer.")
    quoted = text_of(built(item)).replace("\n", "\n> ")

    result = ingest(
        mailbox,
        make_email(
            sender="ann@acme.example",
            subject=built(item)["Subject"],
            in_reply_to=item.message_id,
            references=[item.message_id],
            body=f"Thanks, that worked.\n\n> {quoted}\n",
        ),
    )

    assert result.ticket.pk == ticket.pk
    assert "The answer." not in result.message.reply_text
    assert "Thanks, that worked." in result.message.reply_text


def test_it_adds_the_powered_by_footer_unless_the_mailbox_turns_it_off() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)
    quiet = support_mailbox(
        name="quiet", key="Q", address="quiet@example.com", replies={"powered_by_footer": False}
    )
    quiet_ticket, _ = customer_ticket(quiet, subject="Other")

    assert "Powered by deskmail" in text_of(built(queue_reply(ticket, body_text="A.")))
    assert "Powered by deskmail" not in text_of(built(queue_reply(quiet_ticket, body_text="B.")))


def test_it_renders_the_mailboxs_own_reply_layout_and_subject() -> None:
    mailbox = support_mailbox()
    MailboxTemplate.objects.create(
        mailbox=mailbox,
        kind="reply",
        subject="Your case {{ ticket.number }}: {{ ticket.title }}",
        html='<div style="font-family:Georgia"><img src="https://example.com/logo.png" alt="Logo">'
        "{{ body }}<p>Regards, {{ agent.name }} for {{ contact.first_name }}</p></div>",
    )
    ticket, _ = customer_ticket(mailbox, sender="Ann Customer <ann@acme.example>")
    from django.contrib.auth.models import User

    agent = User.objects.create(username="bo", first_name="Bo", last_name="Agent")

    msg = built(queue_reply(ticket, body_text="Fixed <it>.", agent=agent))

    assert msg["Subject"] == (f"Your case {ticket.number}: Printer broken [SUP#{ticket.number}]")
    html = html_of(msg)
    assert "font-family:Georgia" in html and "logo.png" in html
    assert "Fixed &lt;it&gt;." in html
    assert "Regards, Bo Agent for Ann" in text_of(msg)


def test_it_sends_a_public_comment_as_the_case_response() -> None:
    mailbox = support_mailbox()
    ticket, _ = customer_ticket(mailbox)

    item = queue_reply(ticket, body_text="We ordered the part.", kind=OutboxItem.Kind.NOTE)

    assert item.kind == "note"
    assert "There is an update on your request" in text_of(built(item))


def test_it_forwards_a_message_with_the_previous_one_and_the_attachments() -> None:
    mailbox = support_mailbox()
    ticket, first = customer_ticket(mailbox, body="First mail.", message_id="m1@acme.example")
    second = ingest(
        mailbox,
        make_email(
            sender="ann@acme.example",
            subject="Re: Printer broken",
            body="Second mail, with the log.",
            in_reply_to="m1@acme.example",
            references=["m1@acme.example"],
            attachments=[("printer.log", "text/plain", b"paper jam")],
        ),
    ).message

    alone = built(queue_forward(second, to=["vendor@printers.example"], body_text="FYI"))
    both = built(queue_forward(second, to=["vendor@printers.example"], include_previous=True))

    assert alone["Subject"] == f"Fwd: [SUP#{ticket.number}] Printer broken"
    assert alone["To"] == "vendor@printers.example"
    assert alone["In-Reply-To"] is None
    assert "FYI" in text_of(alone) and "Second mail" in text_of(alone)
    assert "First mail." not in text_of(alone)
    assert "First mail." in text_of(both) and "Second mail" in text_of(both)
    assert [p.get_filename() for p in alone.iter_attachments()] == ["printer.log"]


def test_it_lists_a_mailboxs_own_canned_answers_before_the_global_ones() -> None:
    mailbox = support_mailbox()
    other = make_mailbox("sales", "SAL", "sales@example.com")
    CannedAnswer.objects.create(name="Thanks", body="Global thanks")
    CannedAnswer.objects.create(name="Closing", body="Global closing")
    CannedAnswer.objects.create(mailbox=mailbox, name="Thanks", body="Support thanks")
    CannedAnswer.objects.create(mailbox=mailbox, name="Reset", body="Support reset")
    CannedAnswer.objects.create(mailbox=other, name="Quote", body="Sales quote")

    names = [(a.name, a.body) for a in canned_answers_for(mailbox)]

    assert names == [
        ("Reset", "Support reset"),
        ("Thanks", "Support thanks"),
        ("Closing", "Global closing"),
    ]
    assert [a.name for a in canned_answers_for(None)] == ["Closing", "Thanks"]


def test_it_fills_in_a_canned_answers_variables_but_not_secrets() -> None:
    mailbox = support_mailbox()
    mailbox.outbound_secret = "hunter2"
    mailbox.save()
    ticket, _ = customer_ticket(mailbox, sender="Ann Customer <ann@acme.example>")
    answer = CannedAnswer.objects.create(
        name="Hi",
        body="Dear {{ contact.first_name }}, ticket {{ ticket.tag }} & co. "
        "{{ ticket.mailbox.outbound_secret }}{{ mailbox.outbound_secret }}",
    )

    text = render_canned(answer, ticket)

    assert text == f"Dear Ann, ticket [SUP#{ticket.number}] & co. "


def test_it_keeps_the_images_an_agent_put_in_a_reply_but_not_a_customers_tracker() -> None:
    mailbox = support_mailbox()
    ticket, first = customer_ticket(
        mailbox, html='<p>Hi</p><img src="https://tracker.example/pixel.gif">'
    )
    reply = queue_reply(ticket, body_html='<p>See</p><img src="https://cdn.example/logo.png">')
    forward = queue_forward(first.message, to=["vendor@partner.example"])

    assert ' src="https://cdn.example/logo.png"' in html_of(built(reply))
    forwarded = html_of(built(forward))
    assert 'data-remote-src="https://tracker.example/pixel.gif"' in forwarded
    assert ' src="https://tracker.example' not in forwarded
