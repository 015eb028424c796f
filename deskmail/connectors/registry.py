"""Every protocol deskmail speaks, in one place: how to reach it inbound and outbound.

The worker, the connection test and the outbox ask here, never compare
protocol names themselves:

    session = inbound(config, credentials, ca_file=...)   # an InboundSession, or ConnectorError
    syncs(config.protocol)                               # does the worker keep a session open?

Each connector's module (and its library: IMAPClient, exchangelib, requests) is
imported when a session of its protocol is first made, not with the registry:
a command that opens no connection never loads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deskmail.connectors.base import InboundSession, Sender
from deskmail.connectors.credentials import TokenSource
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.settings import InboundConfig, OutboundConfig

InboundFactory = Callable[[InboundConfig, TokenSource, str | None], InboundSession]
OutboundFactory = Callable[[OutboundConfig, TokenSource, str | None], Sender]


@dataclass(frozen=True)
class Protocol:
    name: str
    label: str
    # None: no session of ours reads it (a forwarding address receives by SMTP).
    inbound: InboundFactory | None = None
    outbound: OutboundFactory | None = None


def _imap(config: InboundConfig, credentials: TokenSource, ca_file: str | None) -> InboundSession:
    from deskmail.connectors.imap import ImapConnector

    return ImapConnector(config, credentials, ca_file=ca_file)


def _pop3(config: InboundConfig, credentials: TokenSource, ca_file: str | None) -> InboundSession:
    from deskmail.connectors.pop3 import Pop3Connector

    return Pop3Connector(config, credentials, ca_file=ca_file)


def _smtp(config: OutboundConfig, credentials: TokenSource, ca_file: str | None) -> Sender:
    from deskmail.connectors.smtp import SmtpConnector

    return SmtpConnector(config, credentials, ca_file=ca_file)


def _graph(config: InboundConfig, credentials: TokenSource, ca_file: str | None) -> InboundSession:
    from deskmail.connectors.graph import GraphConnector

    return GraphConnector(config, credentials, ca_file=ca_file)


def _graph_send(config: OutboundConfig, credentials: TokenSource, ca_file: str | None) -> Sender:
    from deskmail.connectors.graph import GraphSender

    return GraphSender(config, credentials, ca_file=ca_file)


def _ews(config: InboundConfig, credentials: TokenSource, ca_file: str | None) -> InboundSession:
    from deskmail.connectors.ews import EwsConnector

    return EwsConnector(config, credentials, ca_file=ca_file)


def _ews_send(config: OutboundConfig, credentials: TokenSource, ca_file: str | None) -> Sender:
    from deskmail.connectors.ews import EwsSender

    return EwsSender(config, credentials, ca_file=ca_file)


INBOUND: dict[str, Protocol] = {
    "imap": Protocol("imap", "IMAP", inbound=_imap),
    "pop3": Protocol("pop3", "POP3", inbound=_pop3),
    "graph": Protocol("graph", "Microsoft Graph (Exchange Online)", inbound=_graph),
    "ews": Protocol("ews", "Exchange Web Services (Exchange Server)", inbound=_ews),
    "forward": Protocol("forward", "forwarding address"),
}
OUTBOUND: dict[str, Protocol] = {
    "smtp": Protocol("smtp", "SMTP", outbound=_smtp),
    "graph": Protocol("graph", "Microsoft Graph (Exchange Online)", outbound=_graph_send),
    "ews": Protocol("ews", "Exchange Web Services (Exchange Server)", outbound=_ews_send),
}


def syncs(protocol: str) -> bool:
    """Whether the worker keeps a session open for mailboxes of this protocol."""
    found = INBOUND.get(protocol)
    return found is not None and found.inbound is not None


def inbound(
    config: InboundConfig, credentials: TokenSource, *, ca_file: str | None = None
) -> InboundSession:
    """A (not yet opened) session reading the mailbox's source."""
    found = INBOUND.get(config.protocol)
    if found is None or found.inbound is None:
        raise ConnectorError(
            f"mail of a {config.protocol} mailbox is not fetched by a session of ours",
            permanent=True,
        )
    return found.inbound(config, credentials, ca_file)


def outbound(
    config: OutboundConfig, credentials: TokenSource, *, ca_file: str | None = None
) -> Sender:
    """A (not yet opened) connection that sends the mailbox's mail."""
    found = OUTBOUND.get(config.protocol)
    if found is None or found.outbound is None:
        raise ConnectorError(f"sending over {config.protocol} is not supported yet", permanent=True)
    return found.outbound(config, credentials, ca_file)
