"""Test a mailbox's connection step by step, for the admin: `deskmail mailboxes test`.

Each step says plainly what was tried and how it went, with the server's own
words when it refused. The steps stop at the first failure, since later ones
could only fail the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deskmail.connectors import registry
from deskmail.connectors.base import InboundSession, Sender
from deskmail.connectors.credentials import TokenSource
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.session import Session
from deskmail.connectors.settings import InboundConfig, OutboundConfig


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    server_reply: str | None = None
    # The setting most likely wrong when the step failed (ConnectorError.cause).
    cause: str = ""

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


Plan = list[tuple[str, Callable[[], str]]]


def _run(plan: Plan) -> list[Step]:
    steps = []
    for name, action in plan:
        try:
            detail = action()
        except ConnectorError as exc:
            steps.append(Step(name, False, exc.message, exc.server_reply, exc.cause))
            break
        steps.append(Step(name, True, detail))
    return steps


def test_inbound(
    config: InboundConfig, credentials: TokenSource, *, ca_file: str | None = None
) -> list[Step]:
    """Connect, log in, then the protocol's own checks (folders, message count)."""
    try:
        session: InboundSession = registry.inbound(config, credentials, ca_file=ca_file)
    except ConnectorError as exc:
        return [Step("connect", False, exc.message, cause=exc.cause)]
    assert isinstance(session, Session)
    try:
        return _run([*session.connection_steps(), *session.checks()])
    finally:
        session.close()


def test_outbound(
    config: OutboundConfig, credentials: TokenSource, *, ca_file: str | None = None
) -> list[Step]:
    """Connect and log in to the sending server (nothing is sent)."""
    try:
        sender: Sender = registry.outbound(config, credentials, ca_file=ca_file)
    except ConnectorError as exc:
        return [Step("connect", False, exc.message, cause=exc.cause)]
    assert isinstance(sender, Session)
    try:
        return _run(sender.connection_steps())
    finally:
        sender.close()
