"""`deskmail tickets`: the JSON contract and the readable table."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

from deskmail.ingest.api import SourcePosition, ingest
from deskmail.ingest.tests.test_import_helpers import mail, make_mailboxes, run
from deskmail.mailboxes.models import Mailbox

pytestmark = pytest.mark.django_db


def _deliver(mailbox: Mailbox, raw: bytes, uid: int) -> str:
    result = ingest(mailbox, raw, source=SourcePosition(kind="test", folder="INBOX", uid=str(uid)))
    return result.outcome


def _setup() -> None:
    support = make_mailboxes()
    sales = Mailbox.objects.get(name="sales")
    _deliver(support, mail(1, "Printer on fire", sender="Anna <anna@customer.example>"), 1)
    quote = mail(2, "Quote for 40 seats", sender="bob@other.example", to="sales@example.com")
    _deliver(sales, quote, 2)
    # A reply that arrives before a later reply with an older Date: arrival order counts.
    _deliver(support, mail(3, "Re: Printer on fire", replying_to=[1], day=5), 3)
    _deliver(support, mail(4, "Re: Printer on fire", replying_to=[1, 3], day=2), 4)


def test_it_prints_each_ticket_with_the_contract_fields() -> None:
    _setup()

    tickets = json.loads(run("tickets", "--json"))

    assert tickets == [
        {
            "number": 1,
            "subject": "Printer on fire",
            "status": "new",
            "mailbox": "support",
            "contact": "anna@customer.example",
            "message_ids": [
                "n1@customer.example",
                "n3@customer.example",
                "n4@customer.example",
            ],
        },
        {
            "number": 2,
            "subject": "Quote for 40 seats",
            "status": "new",
            "mailbox": "sales",
            "contact": "bob@other.example",
            "message_ids": ["n2@customer.example"],
        },
    ]


def test_it_lists_one_mailbox_only() -> None:
    _setup()

    tickets = json.loads(run("tickets", "--json", "--mailbox", "sales"))

    assert [t["number"] for t in tickets] == [2]


def test_it_prints_an_empty_list_without_tickets() -> None:
    make_mailboxes()

    assert json.loads(run("tickets", "--json")) == []


def test_it_prints_a_readable_table() -> None:
    _setup()

    table = run("tickets")

    lines = table.splitlines()
    assert "Subject" in lines[0] and "Contact" in lines[0]
    assert any("Printer on fire" in line and "anna@customer.example" in line for line in lines)
    assert any("Quote for 40 seats" in line and "sales" in line for line in lines)


def test_it_refuses_an_unknown_mailbox() -> None:
    make_mailboxes()

    with pytest.raises(CommandError, match="known mailboxes: sales, support"):
        run("tickets", "--json", "--mailbox", "nope")
