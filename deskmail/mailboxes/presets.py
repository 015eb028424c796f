"""The kinds of mailbox account an admin picks from, and the servers of well-known services.

A kind is a starting point for a mailbox's configuration (which protocols, which
login), not a setting of its own: a mailbox's kind is read back from its
configuration (`kind_of`), so a mailbox loaded from YAML shows its kind too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deskmail.mailboxes.config import MailboxConfig

Kind = Literal["graph", "graph_shared", "gmail", "ews", "imap", "pop3", "forward"]


@dataclass(frozen=True)
class AccountKind:
    key: Kind
    label: str
    help: str


KINDS: tuple[AccountKind, ...] = (
    AccountKind(
        "graph",
        "Office 365 / Microsoft 365 (Graph)",
        "Exchange Online through Microsoft Graph, signed in with Microsoft. "
        "Graph is the way to Exchange Online.",
    ),
    AccountKind(
        "graph_shared",
        "Office 365 shared mailbox (Graph)",
        "A shared mailbox of Exchange Online, read and sent from through Graph by an "
        "account that has access to it.",
    ),
    AccountKind(
        "gmail",
        "Gmail / Google Workspace",
        "IMAP and SMTP at Google, signed in with Google (or an app password).",
    ),
    AccountKind(
        "ews",
        "Exchange on-premises (EWS)",
        "For on-premises Exchange Server only. Exchange Online blocks EWS: use "
        "Office 365 / Microsoft 365 (Graph) for it.",
    ),
    AccountKind("imap", "IMAP with SMTP", "Any mail server that speaks IMAP."),
    AccountKind(
        "pop3",
        "POP3 with SMTP",
        "Any mail server that speaks POP3. Gmail over POP3: put recent: before the user "
        "name (recent:support@example.com) to fetch the last 30 days.",
    ),
    AccountKind(
        "forward",
        "Forwarding address",
        "Your mail server forwards to deskmail (`deskmail receive`); nothing is fetched.",
    ),
)
KIND_BY_KEY = {kind.key: kind for kind in KINDS}


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: Literal["ssl", "starttls", "none"]


@dataclass(frozen=True)
class ServicePreset:
    key: str
    label: str
    imap: Server | None
    pop3: Server | None
    smtp: Server | None


# The servers the services publish for mail clients.
SERVICES: tuple[ServicePreset, ...] = (
    ServicePreset(
        "gmail",
        "Gmail",
        Server("imap.gmail.com", 993, "ssl"),
        Server("pop.gmail.com", 995, "ssl"),
        Server("smtp.gmail.com", 465, "ssl"),
    ),
    ServicePreset(
        "yahoo",
        "Yahoo",
        Server("imap.mail.yahoo.com", 993, "ssl"),
        Server("pop.mail.yahoo.com", 995, "ssl"),
        Server("smtp.mail.yahoo.com", 465, "ssl"),
    ),
    ServicePreset(
        "outlook",
        "Outlook.com / Hotmail",
        Server("outlook.office365.com", 993, "ssl"),
        Server("outlook.office365.com", 995, "ssl"),
        Server("smtp-mail.outlook.com", 587, "starttls"),
    ),
    ServicePreset(
        "office365",
        "Office 365",
        Server("outlook.office365.com", 993, "ssl"),
        Server("outlook.office365.com", 995, "ssl"),
        Server("smtp.office365.com", 587, "starttls"),
    ),
    ServicePreset("custom", "Custom", None, None, None),
)
SERVICE_BY_KEY = {service.key: service for service in SERVICES}


def kind_of(config: MailboxConfig) -> Kind | None:
    """The kind a mailbox's configuration is (None: no inbound settings yet)."""
    inbound = config.inbound
    if inbound is None:
        return None
    if inbound.protocol == "graph":
        shared = inbound.user and inbound.user.lower() != config.address.lower()
        return "graph_shared" if shared else "graph"
    if inbound.protocol == "imap":
        google = (config.oauth is not None and config.oauth.provider == "google") or (
            (inbound.host or "").lower() == "imap.gmail.com"
        )
        return "gmail" if google else "imap"
    return inbound.protocol


def kind_label(config: MailboxConfig) -> str:
    kind = kind_of(config)
    return KIND_BY_KEY[kind].label if kind else "not set up"
