"""Shared setup for the Graph and EWS connector tests: configs pointing at the local fakes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from deskmail.connectors.settings import InboundConfig, OutboundConfig
from deskmail.testing.ewsserver import EwsServer
from deskmail.testing.graphserver import GraphServer

SUPPORT = "support@helpdesk.test"
SHARED = "team@helpdesk.test"
AGENT = "agent@helpdesk.test"
CUSTOMER = "customer@customer.test"
APP = "5a7c1e44-3bd4-4d5b-9f1e-7c2f6f2d1a01"
APP_PERMISSIONS = frozenset({"Mail.ReadWrite", "Mail.Send"})


def graph_inbound(graph: GraphServer, user: str = SUPPORT, **overrides: Any) -> InboundConfig:
    settings: dict[str, Any] = {
        "protocol": "graph",
        "graph_url": graph.graph_url,
        "security": "none",
        "user": user,
        "auth": "oauth2",
        "folder": "Inbox",
        **overrides,
    }
    return InboundConfig(**settings)


def graph_outbound(graph: GraphServer, user: str = SUPPORT, **overrides: Any) -> OutboundConfig:
    settings: dict[str, Any] = {
        "protocol": "graph",
        "graph_url": graph.graph_url,
        "security": "none",
        "user": user,
        "auth": "oauth2",
        **overrides,
    }
    return OutboundConfig(**settings)


def ews_inbound(ews: EwsServer, **overrides: Any) -> InboundConfig:
    settings: dict[str, Any] = {
        "protocol": "ews",
        "ews_url": ews.url,
        "security": "none",
        "username": "agent",
        "user": ews.default_mailbox,
        "folder": "Inbox",
        **overrides,
    }
    return InboundConfig(**settings)


def ews_outbound(ews: EwsServer, **overrides: Any) -> OutboundConfig:
    settings: dict[str, Any] = {
        "protocol": "ews",
        "ews_url": ews.url,
        "security": "none",
        "username": "agent",
        "user": ews.default_mailbox,
        **overrides,
    }
    return OutboundConfig(**settings)


def mail(
    n: int,
    to: str = SUPPORT,
    *headers: str,
    sender: str | None = None,
    body: bytes = b"",
) -> bytes:
    """A small customer mail; `headers` are added as given."""
    extra = "".join(f"{header}\r\n" for header in headers)
    return (
        f"From: {sender or f'Customer {n} <customer{n}@customer.test>'}\r\nTo: {to}\r\n"
        f"Subject: question {n}\r\nMessage-ID: <q{n}@customer.test>\r\n"
        f"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n{extra}\r\n"
    ).encode() + (body or f"Hello, this is question {n}.\r\n".encode())


def days_ago(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
