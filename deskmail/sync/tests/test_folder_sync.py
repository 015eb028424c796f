"""One sync pass against real Dovecot: what a failing step and a broken mail do to the mailbox."""

from __future__ import annotations

import pytest

from deskmail.ingest import pipeline
from deskmail.ingest.context import Context
from deskmail.ingest.models import QuarantinedMessage
from deskmail.ingest.steps import open_ticket
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.sync.connect import connector_for
from deskmail.sync.folder_sync import sync_pass
from deskmail.sync.models import FolderCheckpoint
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
    with connector_for(mailbox) as connector:
        sync_pass(mailbox, connector)  # the first pass: an empty folder, nothing is history
        poison = mail_servers.append(mail_account, make_email(subject="poison pill"))
        ordinary = mail_servers.append(mail_account, make_email(subject="ordinary"))

        first = sync_pass(mailbox, connector)
        again = sync_pass(mailbox, connector)

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
    assert FolderCheckpoint.objects.get(mailbox=mailbox).last_uid == ordinary
