"""Test a mailbox's connection step by step, for the admin: `deskmail mailboxes test`.

Each step says plainly what was tried and how it went, with the server's own
words when it refused. The steps stop at the first failure, since later ones
could only fail the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deskmail.connectors.base import Secret
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.imap import ImapConnector
from deskmail.connectors.pop3 import Pop3Connector
from deskmail.connectors.smtp import SmtpConnector
from deskmail.mailboxes.config import InboundConfig, OutboundConfig


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    server_reply: str | None = None

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


Plan = list[tuple[str, Callable[[], str]]]


def _run(plan: Plan) -> list[Step]:
    steps = []
    for name, action in plan:
        try:
            detail = action()
        except ConnectorError as exc:
            steps.append(Step(name, False, exc.message, exc.server_reply))
            break
        steps.append(Step(name, True, detail))
    return steps


def test_inbound(
    config: InboundConfig, secret: Secret, *, ca_file: str | None = None
) -> list[Step]:
    """Connect, log in, list folders and count messages; one Step each."""
    if config.protocol not in ("imap", "pop3"):
        reason = f"testing {config.protocol} mailboxes is not supported here"
        return [Step("connect", False, reason)]
    where = f"{config.host}:{config.default_port()} ({config.security})"
    connector: ImapConnector | Pop3Connector
    if config.protocol == "pop3":
        connector = pop3 = Pop3Connector(config, secret, ca_file=ca_file)
        plan: Plan = [("count messages", lambda: f"{pop3.count_messages()} messages")]
    else:
        connector = imap = ImapConnector(config, secret, ca_file=ca_file)
        plan = [
            ("list folders", lambda: _folders(imap, config.folder)),
            (f"count messages in {config.folder}", lambda: f"{imap.count_messages()} messages"),
        ]
    plan = [
        (f"connect to {where}", lambda: _done(connector.connect, "connected")),
        (f"log in as {config.username}", lambda: _done(connector.login, "logged in")),
        *plan,
    ]
    try:
        return _run(plan)
    finally:
        connector.close()


def test_outbound(
    config: OutboundConfig, secret: Secret | None, *, ca_file: str | None = None
) -> list[Step]:
    """Connect and log in to the SMTP server (nothing is sent); one Step each."""
    if config.protocol != "smtp":
        return [Step("connect", False, f"testing {config.protocol} sending is not supported")]
    where = f"{config.host}:{config.default_port()} ({config.security})"
    smtp = SmtpConnector(config, secret, ca_file=ca_file)
    plan: Plan = [(f"connect to {where}", lambda: _done(smtp.connect, "connected"))]
    if config.username:
        plan.append((f"log in as {config.username}", lambda: _done(smtp.login, "logged in")))
    try:
        return _run(plan)
    finally:
        smtp.close()


def _done(action: Callable[[], None], verdict: str) -> str:
    action()
    return verdict


def _folders(imap: ImapConnector, wanted: str) -> str:
    folders = imap.list_folders()
    if wanted not in folders:
        raise ConnectorError(
            f"the folder {wanted!r} does not exist; the server has: {', '.join(folders)}",
            permanent=True,
        )
    return f"{len(folders)} folders: {', '.join(folders)}"
