"""Our own addresses: read once per process, not once per message, and never stale."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_init

from deskmail.ingest.api import ingest
from deskmail.ingest.tests.conftest import configure
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.recipients import own_addresses
from deskmail.testing.builders import make_email, make_mailbox

pytestmark = pytest.mark.django_db


def test_it_does_not_load_every_mailbox_for_each_message(support):
    """Each message used to load and validate every mailbox: 1.3 s a message with 1,000."""
    for n in range(40):
        make_mailbox(f"desk{n}", f"D{n}", f"desk{n}@example.com")
    ingest(support, make_email(subject="first"))
    loaded: list[Mailbox] = []

    def count(sender: type[Mailbox], instance: Mailbox, **kwargs: object) -> None:
        loaded.append(instance)

    post_init.connect(count, sender=Mailbox)
    try:
        result = ingest(support, make_email(subject="second"))
    finally:
        post_init.disconnect(count, sender=Mailbox)

    assert result.outcome == "new_ticket"
    assert len(loaded) <= 1


def test_it_sees_a_new_alias_at_the_next_message(support):
    ingest(support, make_email(subject="warm up"))
    configure(support, aliases=["help@example.com", "desk@example.com"])

    result = ingest(support, make_email(sender="desk@example.com", to="ann@acme.example"))

    assert result.message.direction == "out"  # our own address: outgoing mail
    assert "desk@example.com" in own_addresses()


def test_it_forgets_a_deleted_mailbox(support, sales):
    assert "sales@example.com" in own_addresses()
    sales.delete()
    assert "sales@example.com" not in own_addresses()
