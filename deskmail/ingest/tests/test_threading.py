"""Threading conversations as real mail clients and notification systems send them."""

import datetime as dt

import pytest

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure, decision
from deskmail.testing.builders import make_email, message_id_of, new_message_id
from deskmail.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

ANN = "Ann Customer <ann@acme.example>"


def test_it_threads_a_gmail_conversation_by_references(support):
    first = make_email(sender=ANN, subject="Printer broken")
    a = ingest(support, first)
    first_id = message_id_of(first)
    second = make_email(
        sender=ANN,
        subject="Re: Printer broken",
        message_id="CAKx1=abc@mail.gmail.com",
        in_reply_to=first_id,
        references=[first_id],
    )
    b = ingest(support, second)
    third = make_email(
        sender=ANN,
        subject="Re: Printer broken",
        message_id="CAKx2=def@mail.gmail.com",
        in_reply_to="CAKx1=abc@mail.gmail.com",
        references=[first_id, "CAKx1=abc@mail.gmail.com"],
    )
    c = ingest(support, third)
    assert a.outcome == "new_ticket"
    assert (b.outcome, c.outcome) == ("appended", "appended")
    assert a.ticket.pk == b.ticket.pk == c.ticket.pk
    assert Ticket.objects.count() == 1


def test_it_threads_an_outlook_reply_that_only_has_in_reply_to(support):
    first = make_email(sender=ANN, subject="VPN down")
    a = ingest(support, first)
    reply = make_email(
        sender=ANN,
        subject="AW: VPN down",
        message_id="AM0PR01MB1234@eurprd01.prod.outlook.com",
        in_reply_to=message_id_of(first),
        headers={"Thread-Index": "AQHZ1234", "Thread-Topic": "VPN down"},
    )
    b = ingest(support, reply)
    assert b.outcome == "appended"
    assert b.ticket.pk == a.ticket.pk


def test_it_threads_a_reply_to_our_own_outgoing_message(support):
    a = ingest(support, make_email(sender=ANN, subject="Invoice question"))
    ours = Message.objects.create(
        ticket=a.ticket,
        mailbox=support,
        direction=Message.Direction.OUT,
        message_id="reply-1@support.example.com",
        raw_sha256="0" * 64,
        received_at=a.message.received_at,
    )
    reply = make_email(
        sender=ANN,
        subject="Re: Invoice question",
        in_reply_to=ours.message_id,
        references=[a.message.message_id, ours.message_id],
    )
    b = ingest(support, reply)
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)
    assert "reply-1@support.example.com" in decision(b, "thread_references").reason


def test_it_threads_apple_mail_and_thunderbird_replies_deep_in_the_chain(support):
    first = make_email(sender=ANN, subject="Order 55")
    a = ingest(support, first)
    apple = make_email(
        sender="Bob <bob@acme.example>",
        subject="Re: Order 55",
        message_id="5A1B2C3D-AAAA-BBBB@acme.example",
        in_reply_to=message_id_of(first),
        references=[message_id_of(first)],
        headers={"X-Mailer": "Apple Mail (2.3774)"},
    )
    ingest(support, apple)
    # Thunderbird keeps the whole chain, oldest first, even with a changed subject.
    thunderbird = make_email(
        sender=ANN,
        subject="Something else entirely",
        in_reply_to="5A1B2C3D-AAAA-BBBB@acme.example",
        references=[message_id_of(first), "5A1B2C3D-AAAA-BBBB@acme.example"],
        headers={"User-Agent": "Mozilla Thunderbird"},
    )
    c = ingest(support, thunderbird)
    assert (c.outcome, c.ticket.pk) == ("appended", a.ticket.pk)


def test_it_threads_by_a_shared_ancestor_when_the_first_mail_never_reached_us(support):
    lost_root = new_message_id("acme.example")
    # Ann mailed a colleague first; the colleague forwarded the thread to support.
    one = make_email(
        sender=ANN, subject="Re: Broken badge", in_reply_to=lost_root, references=[lost_root]
    )
    a = ingest(support, one)
    two = make_email(
        sender="Carl <carl@acme.example>",
        subject="Re: Broken badge",
        in_reply_to=new_message_id("acme.example"),
        references=[lost_root, new_message_id("acme.example")],
    )
    b = ingest(support, two)
    assert a.outcome == "new_ticket"
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)
    assert "ancestor" in decision(b, "thread_references").reason


def test_it_threads_by_subject_tag_through_changed_prefixes(support):
    a = ingest(support, make_email(sender=ANN, subject="Printer broken"))
    tag = f"[SUP#{a.ticket.number}]"
    for subject in (f"RE: FW: {tag} Printer broken", f"AW: {tag} new topic", f"{tag}"):
        # Outlook on mobile drops References and In-Reply-To altogether.
        result = ingest(support, make_email(sender=ANN, subject=subject))
        assert (result.outcome, result.ticket.pk) == ("appended", a.ticket.pk), subject


def test_it_ignores_a_tag_with_another_key_or_no_ticket(support):
    a = ingest(support, make_email(sender=ANN, subject="Printer broken"))
    other = ingest(support, make_email(sender=ANN, subject=f"Re: [SAL#{a.ticket.number}] x"))
    missing = ingest(support, make_email(sender=ANN, subject="Re: [SUP#9999] y"))
    assert other.outcome == "new_ticket"
    assert missing.outcome == "new_ticket"
    assert "names no ticket" in decision(missing, "thread_tag").reason


def test_it_ignores_subject_tags_when_the_mailbox_turns_them_off(support):
    configure(support, threading={"subject_tag": False})
    a = ingest(support, make_email(sender=ANN, subject="Printer broken"))
    b = ingest(support, make_email(sender=ANN, subject=f"Re: [SUP#{a.ticket.number}] x"))
    assert b.outcome == "new_ticket"


def test_it_opens_a_linked_ticket_when_a_stranger_quotes_a_tag(support):
    a = ingest(support, make_email(sender=ANN, subject="Printer broken"))
    stranger = make_email(
        sender="mallory@evil.example", subject=f"Re: [SUP#{a.ticket.number}] Printer broken"
    )
    b = ingest(support, stranger)
    assert b.outcome == "new_ticket"
    assert b.ticket.pk != a.ticket.pk
    assert b.ticket.linked_from_id == a.ticket.pk
    assert a.ticket.messages.count() == 1


def test_it_lets_a_colleague_from_the_contacts_domain_join_by_tag(support):
    a = ingest(support, make_email(sender=ANN, subject="Printer broken"))
    colleague = make_email(
        sender="dave@acme.example", subject=f"Re: [SUP#{a.ticket.number}] Printer broken"
    )
    b = ingest(support, colleague)
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)


def test_it_does_not_treat_a_shared_freemail_domain_as_a_colleague(support):
    a = ingest(support, make_email(sender="ann@gmail.com", subject="Printer broken"))
    b = ingest(
        support,
        make_email(sender="eve@gmail.com", subject=f"Re: [SUP#{a.ticket.number}] Printer"),
    )
    assert b.outcome == "new_ticket"
    assert b.ticket.linked_from_id == a.ticket.pk


def test_it_lets_a_cc_participant_join_by_tag(support):
    a = ingest(
        support, make_email(sender=ANN, cc="frank@partner.example", subject="Printer broken")
    )
    b = ingest(
        support,
        make_email(sender="frank@partner.example", subject=f"Re: [SUP#{a.ticket.number}] x"),
    )
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)


def test_it_joins_a_notification_system_by_its_identity_rule(support):
    # A Jira-like system strips every reference but keeps the order id in the subject.
    configure(support, threading={"identity_rule": {"match": "subject", "pattern": "ORD-[0-9]+"}})
    jira = "Jira <jira@tracker.example>"
    a = ingest(support, make_email(sender=jira, subject="[Tracker] ORD-1234 created"))
    b = ingest(support, make_email(sender=jira, subject="[Tracker] ORD-1234 commented"))
    c = ingest(support, make_email(sender=jira, subject="[Tracker] ORD-77 created"))
    assert (a.outcome, b.outcome, c.outcome) == ("new_ticket", "appended", "new_ticket")
    assert b.ticket.pk == a.ticket.pk
    assert a.ticket.identity_key == "ord-1234"


def test_it_matches_the_identity_rule_against_the_body(support):
    configure(support, threading={"identity_rule": {"match": "body", "pattern": "order-[0-9]+"}})
    a = ingest(support, make_email(subject="Shipped", body="Your order-881 has shipped."))
    b = ingest(support, make_email(subject="Delivered", body="order-881 was delivered."))
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)


COMBINE = {"combine_same_subject": {"within_hours": 72, "statuses": ["new", "open", "pending"]}}


def test_it_combines_new_mail_with_the_same_subject_within_the_window(support):
    configure(support, threading=COMBINE)
    start = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    a = ingest(support, make_email(sender=ANN, subject="Login fails", date=start))
    b = ingest(
        support,
        make_email(sender=ANN, subject="login   FAILS", date=start + dt.timedelta(hours=70)),
    )
    c = ingest(
        support,
        make_email(sender=ANN, subject="Login fails", date=start + dt.timedelta(hours=80)),
    )
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)
    assert c.outcome == "new_ticket"


def test_it_does_not_combine_by_subject_unless_configured(support):
    a = ingest(support, make_email(sender=ANN, subject="Login fails"))
    b = ingest(support, make_email(sender=ANN, subject="Login fails"))
    assert b.outcome == "new_ticket" and b.ticket.pk != a.ticket.pk


def test_it_only_combines_with_tickets_in_the_configured_statuses(support):
    configure(support, threading=COMBINE)
    a = ingest(support, make_email(sender=ANN, subject="Login fails"))
    Ticket.objects.filter(pk=a.ticket.pk).update(status="resolved")
    b = ingest(support, make_email(sender=ANN, subject="Login fails"))
    assert b.outcome == "new_ticket"


def test_it_measures_the_window_from_arrival_when_the_date_is_in_the_future(support):
    configure(support, threading=COMBINE)
    a = ingest(support, make_email(sender=ANN, subject="Login fails"))
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    b = ingest(support, make_email(sender=ANN, subject="Login fails", date=future))
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)


def test_it_never_combines_a_forward_by_subject_when_it_is_a_reply(support):
    configure(support, threading=COMBINE)
    ingest(support, make_email(sender=ANN, subject="Quarterly report"))
    unknown = new_message_id("elsewhere.example")
    b = ingest(
        support,
        make_email(
            sender="gina@other.example",
            subject="Fwd: Quarterly report",
            in_reply_to=unknown,
            references=[unknown],
        ),
    )
    assert b.outcome == "new_ticket"


def test_it_threads_a_forward_that_keeps_the_references(support):
    first = make_email(sender=ANN, subject="Printer broken")
    a = ingest(support, first)
    forward = make_email(
        sender="Bob <bob@acme.example>",
        subject="Fwd: Printer broken",
        in_reply_to=message_id_of(first),
        references=[message_id_of(first)],
        body="---------- Forwarded message ---------\nFrom: Ann\n\nthe printer is broken\n",
    )
    b = ingest(support, forward)
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)


def test_it_opens_a_new_ticket_for_a_forward_without_references(support):
    ingest(support, make_email(sender=ANN, subject="Invoice 42"))
    # A forwarded third-party mail: no References, prefix only (Zammad #4965 merged these).
    b = ingest(support, make_email(sender=ANN, subject="WG: Invoice 42"))
    assert b.outcome == "new_ticket"
    assert b.ticket.title == "Invoice 42"


def test_it_threads_a_reply_to_our_signed_message_id_even_when_not_stored(support):
    from deskmail.outbound.tokens import new_message_id as signed_id

    a = ingest(support, make_email(sender=ANN, subject="Printer broken"))
    ours = signed_id(a.ticket.number, "support@example.com")
    forged = ours[:-20] + "0" * 4 + ours[-16:]
    reply = make_email(sender=ANN, subject="totally new subject", references=[ours])
    fake = make_email(sender=ANN, subject="another subject", references=[forged])
    assert (ingest(support, reply).ticket.pk) == a.ticket.pk
    assert ingest(support, fake).outcome == "new_ticket"


def test_it_combines_by_the_title_an_agent_gave_the_ticket(support):
    configure(support, threading=COMBINE)
    a = ingest(support, make_email(sender=ANN, subject="help"))
    ticket = Ticket.objects.get(pk=a.ticket.pk)
    ticket.title = "Login fails"
    ticket.save(update_fields=["title"])
    b = ingest(support, make_email(sender=ANN, subject="Re: LOGIN fails"))
    c = ingest(support, make_email(sender=ANN, subject="help"))
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)
    assert c.outcome == "new_ticket"


def test_it_measures_the_window_from_arrival_when_the_date_is_missing(support):
    configure(support, threading={"combine_same_subject": {"within_hours": 1, "statuses": ["new"]}})
    a = ingest(support, make_email(sender=ANN, subject="Login fails"))
    b = ingest(support, make_email(sender=ANN, subject="Login fails", with_date=False))
    assert (b.outcome, b.ticket.pk) == ("appended", a.ticket.pk)
    assert b.message.date is None


def test_a_reply_naming_a_merged_ticket_by_its_tag_joins_the_ticket_it_was_merged_into(support):
    from deskmail.services import merging
    from deskmail.services.access import SYSTEM

    first = ingest(support, make_email(sender=ANN, subject="Invoice missing"))
    second = ingest(support, make_email(sender=ANN, subject="Where is my invoice?"))
    merging.merge(SYSTEM, first.ticket, second.ticket)
    later = ingest(support, make_email(sender=ANN, subject=f"[SUP#{first.ticket.number}] any news"))

    assert later.outcome == "appended"
    assert later.ticket.pk == second.ticket.pk
    assert Ticket.objects.get(pk=first.ticket.pk).status == "closed"
