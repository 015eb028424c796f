"""The event log: written with the change that caused it, read after a cursor, per mailbox."""

from __future__ import annotations

import pytest
from django.db import transaction

from deskmail.events import log
from deskmail.events.models import Event
from deskmail.ingest.api import ingest
from deskmail.services import actions
from deskmail.sync import health
from deskmail.testing.builders import make_email, message_id_of

pytestmark = pytest.mark.django_db


def _kinds(events: list[Event]) -> list[str]:
    return [event.kind for event in events]


def test_it_logs_live_mail_but_not_history(team):
    start = log.latest()
    first = make_email(to=team.north.address)
    ingest(team.north, first)
    ingest(team.north, make_email(subject="Re: x", in_reply_to=message_id_of(first)))
    ingest(team.north, make_email(subject="old archive mail"), history=True)

    events = log.after(start)

    assert _kinds(events) == ["ticket.created", "message.received", "message.received"]
    assert events[0].ticket_number == 1 and events[0].data["subject"] == "Printer broken"
    assert events[2].data["message_id"].startswith("test-")


def test_it_keeps_each_mailbox_to_its_readers(team):
    start = log.latest()
    ingest(team.north, make_email(to=team.north.address))
    ingest(team.south, make_email(to=team.south.address))

    south = log.after(start, mailbox_ids=team.actor(team.stan).mailbox_ids)

    assert {event.mailbox_id for event in south} == {team.south.pk}


def test_it_logs_what_people_do(team):
    ticket = ingest(team.north, make_email(to=team.north.address)).ticket
    start = log.latest()
    nora = team.actor(team.nora)

    actions.note(nora, ticket, "looking into it")
    actions.set_status(nora, ticket, "pending")
    actions.assign(nora, ticket, team.nora.pk)

    events = log.after(start)
    assert _kinds(events) == ["note.created", "ticket.updated", "ticket.updated"]
    assert events[1].data["changes"] == {"status": ["new", "pending"]}
    assert events[2].data["by"] == "nora@helpdesk.example"


def test_it_forgets_an_event_whose_transaction_rolled_back(team):
    start = log.latest()
    with transaction.atomic():
        ingest(team.north, make_email(to=team.north.address))
        transaction.set_rollback(True)

    assert log.after(start) == []


def test_it_logs_a_mailbox_failing_and_recovering(team):
    start = log.latest()
    for _ in range(3):
        health.record_failure(team.north, "IMAP login refused", "[AUTHENTICATIONFAILED]")
    team.north.refresh_from_db()
    health.record_success(team.north)

    events = log.after(start)
    assert _kinds(events) == ["mailbox.failed", "mailbox.recovered"]
    assert "IMAP login refused" in events[0].data["error"]


class _Server:
    """A sender that accepts everything, or refuses with a permanent error."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, envelope_from: str, recipients: list[str], raw: bytes) -> dict:
        if self.refuse:
            from deskmail.connectors.errors import ConnectorError

            raise ConnectorError("refused", permanent=True, server_reply="550 5.1.1 no such user")
        return {}


@pytest.mark.parametrize(("refuse", "kind"), [(False, "message.sent"), (True, "message.failed")])
def test_it_logs_what_became_of_a_reply(team, refuse, kind):
    from deskmail.outbound.send import send_due

    ticket = ingest(team.north, make_email(to=team.north.address)).ticket
    item = actions.reply(team.actor(team.nora), ticket, body_text="Done.")
    start = log.latest()

    send_due(factory=lambda mailbox: _Server(refuse))

    (event,) = log.after(start)
    assert (event.kind, event.data["outbox"], event.data["message"]) == (
        kind,
        item.pk,
        item.outgoing_id,
    )
    assert event.data["recipients"] == "ann@acme.example"
    if refuse:
        assert "550 5.1.1 no such user" in event.data["error"]
