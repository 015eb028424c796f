"""Mailboxes on the suite's Dovecot, for the worker's tests."""

from __future__ import annotations

from deskmail.mailboxes.models import Mailbox
from deskmail.testing.builders import make_mailbox
from deskmail.testing.mailservers import MailAccount, MailServers


def imap_mailbox(
    servers: MailServers,
    account: MailAccount,
    *,
    sections: dict[str, object] | None = None,
    **inbound: object,
) -> Mailbox:
    """An active mailbox syncing the account's INBOX over plain IMAP on loopback.

    `inbound` overrides the inbound settings; `sections` adds other configuration
    sections (replies, outbound, ...).
    """
    settings = {
        "protocol": "imap",
        "host": "127.0.0.1",
        "port": servers.ports["imap"],
        "security": "none",
        "username": account.address,
        "poll_seconds": 1,
        **inbound,
    }
    mailbox = make_mailbox(
        name=account.address,
        key="SUP",
        address=account.address,
        inbound=settings,
        **(sections or {}),
    )
    mailbox.inbound_secret = account.password
    mailbox.save()
    return mailbox
