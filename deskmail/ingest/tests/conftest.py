"""Mailboxes the pipeline tests share: a support desk and a sales desk; a fresh parsing pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deskmail.ingest import parsing
from deskmail.testing.builders import make_mailbox


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    """The pool takes its limits when it starts: start one for the test's settings."""
    parsing.close()
    yield
    parsing.close()


@pytest.fixture
def support(db):
    return make_mailbox(
        "support",
        "SUP",
        "support@example.com",
        aliases=["help@example.com"],
        display_name="Example Support",
        filters={"auto_reply_keywords": ["Out of office", "Automatic reply"]},
        replies={"auto_acknowledge": True},
    )


@pytest.fixture
def sales(db):
    return make_mailbox("sales", "SAL", "sales@example.com")


def configure(mailbox, **sections):
    """Change a mailbox's configuration sections (merged into what it has)."""
    config = dict(mailbox.config)
    for section, values in sections.items():
        if isinstance(values, dict):
            config[section] = {**config.get(section, {}), **values}
        else:
            config[section] = values
    mailbox.config = config
    mailbox.save()
    return mailbox


def decision(result, step):
    """The decision a step took about a message (from an IngestResult)."""
    return next(d for d in result.trace if d.step == step)
