"""A support mailbox with an outgoing server, whose filters let every test mail in."""

from __future__ import annotations

import pytest

from deskmail.testing.builders import make_mailbox


@pytest.fixture
def desk(db):
    return make_mailbox(
        "support",
        "SUP",
        "support@example.com",
        display_name="Example Support",
        outbound={"host": "127.0.0.1"},
        filters={"exclude_auto_replies": False, "sender_rate_limit": None},
    )
