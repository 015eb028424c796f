"""Shared setup for the connector tests: configs pointing at the test mail servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskmail.connectors.settings import InboundConfig, OutboundConfig
from deskmail.testing.mailservers import MailAccount, MailServers

PORTS = {
    ("imap", "none"): "imap",
    ("imap", "starttls"): "imap",
    ("imap", "ssl"): "imaps",
    ("pop3", "none"): "pop3",
    ("pop3", "starttls"): "pop3",
    ("pop3", "ssl"): "pop3s",
    ("smtp", "none"): "smtp",
    ("smtp", "starttls"): "submission",
    ("smtp", "ssl"): "smtps",
}


def inbound(
    servers: MailServers,
    account: MailAccount,
    protocol: str = "imap",
    security: str = "none",
    **overrides: Any,
) -> InboundConfig:
    return InboundConfig(
        protocol=protocol,
        host="127.0.0.1",
        port=servers.ports[PORTS[protocol, security]],
        security=security,
        username=account.address,
        **overrides,
    )


def outbound(
    servers: MailServers, account: MailAccount, security: str = "starttls", **overrides: Any
) -> OutboundConfig:
    return OutboundConfig(
        host="127.0.0.1",
        port=servers.ports[PORTS["smtp", security]],
        security=security,
        username=account.address,
        **overrides,
    )


def message(n: int, *headers: str) -> bytes:
    extra = "".join(f"{header}\r\n" for header in headers)
    return (
        f"From: customer{n}@customer.test\r\nTo: support@helpdesk.test\r\n"
        f"Subject: message {n}\r\nMessage-ID: <{n}@customer.test>\r\n{extra}\r\n"
        f"Body of message {n}.\r\n"
    ).encode()


class TokenOnDemand:
    """A token source that asks for a fresh token at each login, as the OAuth2 one does."""

    mechanism = "xoauth2"

    def __init__(self, issue: Callable[[], str]) -> None:
        self.issue = issue

    def secret(self) -> str:
        return self.issue()
