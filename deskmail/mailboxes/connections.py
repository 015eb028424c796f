"""A mailbox's connections: its credentials, its inbound session, its sender, its test.

The one place that turns a mailbox row into something a connector can use:
the decrypted secret becomes a token source, the configuration picks the
protocol from the connector registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from django.conf import settings

from deskmail.connectors import registry
from deskmail.connectors.base import InboundSession, Sender
from deskmail.connectors.credentials import BearerToken, Password, TokenSource
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.testconn import Step, test_inbound, test_outbound
from deskmail.core.crypto import UNREADABLE_ADVICE, is_unreadable
from deskmail.mailboxes.models import Mailbox

Direction = Literal["inbound", "outbound"]


def credentials(mailbox: Mailbox, direction: Direction) -> TokenSource:
    """What the mailbox logs in with for reading or for sending."""
    config = mailbox.settings.inbound if direction == "inbound" else mailbox.settings.outbound
    secret = (mailbox.inbound_secret if direction == "inbound" else mailbox.outbound_secret) or ""
    if is_unreadable(secret):
        raise ConnectorError(
            f"the stored {direction} secret of mailbox {mailbox.name} {UNREADABLE_ADVICE}",
            permanent=True,
            auth=True,
        )
    if config is not None and config.auth == "oauth2":
        return BearerToken(secret)
    return Password(secret)


def inbound_session(mailbox: Mailbox) -> InboundSession:
    """A (not yet opened) session reading the mailbox's source."""
    inbound = mailbox.settings.inbound
    if inbound is None:
        raise ConnectorError(f"mailbox {mailbox.name} has no inbound settings", permanent=True)
    return registry.inbound(inbound, credentials(mailbox, "inbound"), ca_file=settings.CA_FILE)


def sender(mailbox: Mailbox) -> Sender:
    """A (not yet opened) connection sending the mailbox's mail."""
    outbound = mailbox.settings.outbound
    if outbound is None:
        raise ConnectorError(f"mailbox {mailbox.name} has no outbound settings", permanent=True)
    return registry.outbound(outbound, credentials(mailbox, "outbound"), ca_file=settings.CA_FILE)


def syncs(mailbox: Mailbox) -> bool:
    """Whether the worker keeps a session open for this mailbox."""
    inbound = mailbox.settings.inbound
    return inbound is not None and registry.syncs(inbound.protocol)


def test(mailbox: Mailbox) -> dict[Direction, list[Step] | None]:
    """The connection test of each configured direction (None: not configured)."""
    config = mailbox.settings
    results: dict[Direction, list[Step] | None] = {"inbound": None, "outbound": None}
    inbound, outbound = config.inbound, config.outbound
    if inbound is not None:
        results["inbound"] = _test(
            mailbox,
            "inbound",
            lambda tokens: test_inbound(inbound, tokens, ca_file=settings.CA_FILE),
        )
    if outbound is not None:
        results["outbound"] = _test(
            mailbox,
            "outbound",
            lambda tokens: test_outbound(outbound, tokens, ca_file=settings.CA_FILE),
        )
    return results


def _test(
    mailbox: Mailbox, direction: Direction, run: Callable[[TokenSource], list[Step]]
) -> list[Step]:
    try:
        tokens = credentials(mailbox, direction)
    except ConnectorError as exc:
        return [Step("credentials", False, exc.message)]
    return run(tokens)
