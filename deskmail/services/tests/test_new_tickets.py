"""Tickets an agent starts with a first email."""

from __future__ import annotations

import pytest

from deskmail.events import log
from deskmail.services import new_tickets
from deskmail.services.errors import Invalid, NotFound

pytestmark = pytest.mark.django_db


def test_it_opens_a_ticket_with_our_mail_queued_to_the_customer(team):
    start = log.latest()

    ticket, item = new_tickets.open_outbound(
        team.actor(team.nora),
        mailbox="north",
        to=["Ann <ann@acme.example>"],
        cc=["boss@acme.example", "north@helpdesk.example"],
        subject="Your order",
        body_text="It has shipped.",
        priority="high",
    )

    assert ticket.mailbox == team.north and ticket.contact.address == "ann@acme.example"
    assert (ticket.status, ticket.priority, ticket.title) == ("open", "high", "Your order")
    assert item.outgoing.to == ["ann@acme.example"]
    assert item.outgoing.cc == ["boss@acme.example"]  # never our own address
    assert item.mailbox == team.north and item.agent == team.nora
    kinds = [event.kind for event in log.after(start)]
    assert "ticket.created" in kinds


def test_it_needs_a_mailbox_of_the_agent_a_recipient_and_a_subject(team):
    stan = team.actor(team.stan)
    with pytest.raises(NotFound):
        new_tickets.open_outbound(stan, mailbox="north", to=["a@b.example"], subject="x")
    with pytest.raises(Invalid) as no_one:
        new_tickets.open_outbound(stan, mailbox="south", to=["south@helpdesk.example"], subject="x")
    assert no_one.value.field == "to"
    with pytest.raises(Invalid) as untitled:
        new_tickets.open_outbound(stan, mailbox="south", to=["a@b.example"], subject="  ")
    assert untitled.value.field == "subject"
