"""One sync pass against real Dovecot: the inbox, the cursor, history, and failing steps."""

from __future__ import annotations

import datetime as dt

import pytest

from deskmail.ingest import pipeline
from deskmail.ingest.context import Context
from deskmail.ingest.inbox import drain, waiting
from deskmail.ingest.models import QuarantinedMessage
from deskmail.ingest.steps import open_ticket
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.mailboxes.connections import inbound_session
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.sync.driver import sync_pass
from deskmail.sync.models import SyncCursor
from deskmail.sync.tests.helpers import imap_mailbox
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Ticket

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]


class Explode:
    """A step that fails on mail whose subject contains "poison"."""

    name = "explode"

    def run(self, ctx: Context) -> Decision:
        if "poison" in ctx.parsed.subject:
            raise RuntimeError("the step broke")
        return Decision(self.name, Verdict.PASS, "fine")


def test_it_quarantines_live_mail_a_step_fails_on_and_the_mailbox_moves_on(
    mail_servers, mail_account, monkeypatch
):
    """A failing step on live mail used to raise while quarantining it, so the checkpoint
    never moved and the worker fetched the same message forever."""
    steps = list(pipeline.STEPS)
    steps.insert(steps.index(open_ticket), Explode())
    monkeypatch.setattr(pipeline, "STEPS", tuple(steps))
    mailbox = imap_mailbox(mail_servers, mail_account, after_fetch="leave")
    with inbound_session(mailbox) as session:
        sync_pass(mailbox, session)  # the first pass: an empty folder
        poison = mail_servers.append(mail_account, make_email(subject="poison pill"))
        ordinary = mail_servers.append(mail_account, make_email(subject="ordinary"))

        first = sync_pass(mailbox, session)
        drain()
        again = sync_pass(mailbox, session)

    kept = QuarantinedMessage.objects.get()
    assert "RuntimeError: the step broke" in kept.error
    assert kept.source == {
        "kind": "imap",
        "folder": "INBOX",
        "uidvalidity": kept.source["uidvalidity"],
        "uid": str(poison),
    }
    assert list(Ticket.objects.values_list("title", flat=True)) == ["ordinary"]
    assert first.fetched == 2 and again.fetched == 0
    assert SyncCursor.objects.get(mailbox=mailbox).value["last_uid"] == ordinary
    assert waiting() == 0


def test_it_stores_in_the_inbox_without_waiting_for_the_pipeline(mail_servers, mail_account):
    mailbox = imap_mailbox(mail_servers, mail_account)
    uids = [mail_servers.append(mail_account, make_email(subject=f"m{n}")) for n in range(3)]

    with inbound_session(mailbox) as session:
        report = sync_pass(mailbox, session)

    # Stored and acknowledged on the server, the cursor past them: no ticket yet.
    assert report.fetched == 3 and waiting(mailbox) == 3 and not Ticket.objects.exists()
    cursor = SyncCursor.objects.get(mailbox=mailbox).value
    assert (cursor["last_uid"], cursor["unacked"]) == (uids[-1], [])
    assert all("\\Seen" in flags for flags in mail_servers.flags(mail_account).values())
    drain()
    assert sorted(Ticket.objects.values_list("title", flat=True)) == ["m0", "m1", "m2"]
    assert waiting() == 0


def test_it_treats_mail_older_than_the_activation_as_history_and_the_rest_as_live(
    mail_servers, mail_account
):
    """Mail that arrived while the mailbox was failing is live (acknowledged); only mail
    that was on the server before the mailbox became active is history."""
    activated = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    with mail_servers.imap(mail_account) as client:
        for subject, minutes in (("before activation", -5), ("while it was failing", 30)):
            raw = make_email(subject=subject)
            client.append("INBOX", raw, msg_time=activated + dt.timedelta(minutes=minutes))
    mailbox = imap_mailbox(
        mail_servers,
        mail_account,
        sections={
            "replies": {"auto_acknowledge": True},
            "outbound": {"host": "127.0.0.1", "port": 9},
        },
    )
    Mailbox.objects.filter(pk=mailbox.pk).update(
        activated_at=activated, status="failed", consecutive_failures=3
    )
    mailbox.refresh_from_db()

    with inbound_session(mailbox) as session:
        sync_pass(mailbox, session)
    drain()

    acknowledged = set(
        OutboxItem.objects.filter(kind="auto_ack").values_list("ticket__title", flat=True)
    )
    assert acknowledged == {"while it was failing"}
    assert Ticket.objects.count() == 2
