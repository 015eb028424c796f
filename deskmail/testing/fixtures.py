"""pytest fixtures for the real mail servers; registered in deskmail/conftest.py.

Tests that use them carry `@pytest.mark.servers` (added here when forgotten,
so `-m "not servers"` always leaves them out). The servers start once per
session, on first use, and every test gets its own fresh account.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from deskmail.testing.mailservers import MailAccount, MailServers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "mail_servers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.servers)


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """Dovecot (IMAP, POP3, LMTP, OAuth2) and, as root, Postfix, on loopback."""
    if shutil.which("dovecot") is None:
        pytest.skip("Dovecot is not installed: run scripts/install-test-services.sh")
    with MailServers(postfix=os.geteuid() == 0) as servers:
        yield servers


@pytest.fixture
def mail_account(mail_servers: MailServers) -> MailAccount:
    """A user nobody else has used: (address, password) with an empty INBOX."""
    return mail_servers.new_account()
