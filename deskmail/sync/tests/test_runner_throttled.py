"""A mailbox the server throttles is slowed down, never marked failed.

Graph answers a busy mailbox with 429 and Retry-After; that is the protocol working,
not an outage, so it must not use up the mailbox's `max_tries` and stop its mail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deskmail.connectors import graph_api
from deskmail.connectors.tests.mshelpers import SUPPORT, mail
from deskmail.ingest.models import InboxItem
from deskmail.mailboxes.models import Mailbox
from deskmail.sync.runner import MailboxRunner
from deskmail.testing.builders import make_mailbox
from deskmail.testing.graphserver import GraphServer
from deskmail.testing.waiting import eventually


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    with GraphServer() as server:
        server.add_mailbox(SUPPORT)
        yield server


@pytest.mark.django_db(transaction=True)
def test_a_429_storm_longer_than_max_tries_slows_the_mailbox_without_failing_it(
    graph: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each attempt waits out at most two 1-second Retry-Afters, so the storm below
    # outlasts several attempts: more than the one try this mailbox allows.
    monkeypatch.setattr(graph_api, "PATIENCE_S", 2.0)
    mailbox = make_mailbox(
        address=SUPPORT,
        inbound={"protocol": "graph", "graph_url": graph.graph_url, "security": "none",
                 "auth": "oauth2", "poll_seconds": 1, "max_tries": 1,
                 "cool_off_minutes": 60},
    )  # fmt: skip
    mailbox.inbound_secret = graph.issue_token(SUPPORT, ["Mail.ReadWrite"])
    mailbox.save()
    graph.deliver(SUPPORT, mail(1))
    graph.throttle(12, retry_after=1)
    runner = MailboxRunner(mailbox.pk, "test-worker")
    runner.start()
    try:
        eventually(lambda: InboxItem.objects.count() == 1, 60, "the mail fetched after the storm")
    finally:
        runner.stop()
        runner.join(timeout=15)
    mailbox.refresh_from_db()
    assert mailbox.status == Mailbox.Status.ACTIVE
    assert mailbox.consecutive_failures == 0
    assert "throttling" in mailbox.last_error
