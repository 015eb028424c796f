import pytest

from deskmail.ingest.api import ingest, ingest_many
from deskmail.ingest.tests.conftest import configure
from deskmail.outbound.models import OutboxItem
from deskmail.testing.builders import make_email, message_id_of
from deskmail.tickets.models import Contact, Queue, Ticket, TicketType

pytestmark = pytest.mark.django_db


def test_it_makes_the_first_sender_the_contact(support):
    result = ingest(support, make_email(sender="Ann Customer <ann@acme.example>"))
    contact = Contact.objects.get()
    assert (contact.address, contact.name) == ("ann@acme.example", "Ann Customer")
    assert result.ticket.contact_id == contact.pk
    assert result.ticket.reply_to == "ann@acme.example"


def test_it_creates_no_contact_when_the_mailbox_says_not_to(support):
    configure(support, tickets={"create_contacts": False})
    result = ingest(support, make_email())
    assert not Contact.objects.exists()
    assert result.ticket.contact is None and result.ticket.reply_to == "ann@acme.example"


def test_it_records_participants_without_our_own_addresses(support, sales):
    first = make_email(
        to="support@example.com, help@example.com",
        cc="Bob <bob@acme.example>, sales@example.com",
    )
    a = ingest(support, first)
    ingest(
        support,
        make_email(
            sender="carol@partner.example",
            cc="dan@acme.example",
            subject="Re: Printer broken",
            in_reply_to=message_id_of(first),
        ),
    )
    ticket = Ticket.objects.get(pk=a.ticket.pk)
    assert ticket.participants == [
        "ann@acme.example",
        "bob@acme.example",
        "carol@partner.example",
        "dan@acme.example",
    ]


def test_it_records_what_a_reply_needs(support):
    first = make_email()
    a = ingest(support, first)
    second = make_email(
        sender="bob@acme.example", subject="Re: Printer broken", in_reply_to=message_id_of(first)
    )
    b = ingest(support, second)
    ticket = Ticket.objects.get(pk=a.ticket.pk)
    assert ticket.reply_to == "ann@acme.example"
    assert ticket.reply_cc == ["bob@acme.example"]
    assert ticket.reply_references == [a.message.message_id, b.message.message_id]


def test_it_routes_new_tickets_to_the_mailbox_queue_and_type(support):
    configure(support, tickets={"queue": "Support", "type": "Incident"})
    a = ingest(support, make_email(subject="one"))
    b = ingest(support, make_email(subject="two"))
    assert a.ticket.queue.name == "Support" and a.ticket.type.name == "Incident"
    assert b.ticket.queue_id == a.ticket.queue_id
    assert Queue.objects.count() == 1 and TicketType.objects.count() == 1


def test_it_queues_an_acknowledgement_for_a_new_ticket_only(support):
    configure(support, outbound={"host": "smtp.example.com"})
    first = make_email()
    a = ingest(support, first)
    ingest(support, make_email(subject="Re: x", in_reply_to=message_id_of(first)))
    item = OutboxItem.objects.get()
    assert (item.kind, item.status, item.ticket_id) == ("auto_ack", "pending", a.ticket.pk)
    # Composed at once, through the same outbound path as an agent's reply.
    assert item.outgoing is not None and item.outgoing.auto_submitted


def test_it_never_acknowledges_history_imports(support):
    result = ingest(support, make_email(), history=True)
    assert result.outcome == "new_ticket"
    assert not OutboxItem.objects.exists()


def test_it_does_not_acknowledge_when_the_mailbox_says_not_to(support):
    configure(support, replies={"auto_acknowledge": False})
    ingest(support, make_email())
    assert not OutboxItem.objects.exists()


def test_it_uses_the_end_of_message_marker_for_the_reply_text(support):
    marker = "##- Please type your reply above this line -##"
    configure(support, replies={"end_of_message_marker": marker})
    body = f"Thanks, that fixed it.\n\n{marker}\nOld conversation\n"
    result = ingest(support, make_email(body=body))
    assert "Old conversation" not in result.message.reply_text
    assert "Thanks, that fixed it." in result.message.reply_text


def test_it_makes_the_customer_the_contact_when_an_agent_writes_first(support):
    raw = make_email(
        sender="Example Support <support@example.com>",
        to="Zoe Client <zoe@client.example>",
        subject="Your renewal",
    )
    result = ingest(support, raw)
    assert result.outcome == "new_ticket"
    assert result.ticket.contact.address == "zoe@client.example"
    assert result.ticket.reply_to == "zoe@client.example"
    assert result.message.direction == "out"
    assert not OutboxItem.objects.exists()


def test_it_does_not_acknowledge_a_sender_who_asked_for_no_automatic_answers(support):
    configure(support, outbound={"host": "smtp.example.com"})
    result = ingest(support, make_email(headers={"X-Auto-Response-Suppress": "All"}))

    assert result.outcome == "new_ticket"  # a person wrote it: a ticket all the same
    assert not OutboxItem.objects.exists()
    assert "X-Auto-Response-Suppress" in result.trace[-1].reason


def test_a_batch_gives_each_new_sender_one_contact_and_reuses_known_ones(support, caplog):
    Contact.objects.create(address="known@acme.example", name="Known")
    senders = [
        "Ann <ann@acme.example>",
        "Bob <bob@acme.example>",
        "Known <known@acme.example>",
        "Ann <ann@acme.example>",
    ]
    mails = [make_email(sender=sender, subject=f"question {n}") for n, sender in enumerate(senders)]

    results = ingest_many(support, mails)

    assert "ingesting one by one" not in caplog.text  # the batch's own store wrote them
    contacts = [Ticket.objects.get(pk=r.ticket.pk).contact for r in results]
    assert [c.address for c in contacts] == [
        "ann@acme.example",
        "bob@acme.example",
        "known@acme.example",
        "ann@acme.example",
    ]
    assert contacts[0] == contacts[3] and contacts[0].name == "Ann"
    assert Contact.objects.count() == 3
