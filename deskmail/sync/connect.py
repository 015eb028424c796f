"""Build the connector for a mailbox from its configuration and decrypted secret."""

from __future__ import annotations

from django.conf import settings

from deskmail.connectors.base import Connector
from deskmail.connectors.errors import ConnectorError
from deskmail.mailboxes.models import Mailbox


def connector_for(mailbox: Mailbox) -> Connector:
    inbound = mailbox.settings.inbound
    if inbound is None:
        raise ConnectorError(f"mailbox {mailbox.name} has no inbound settings", permanent=True)
    secret = mailbox.inbound_secret or ""
    if inbound.protocol == "imap":
        from deskmail.connectors.imap import ImapConnector

        return ImapConnector(inbound, secret, ca_file=settings.CA_FILE)
    if inbound.protocol == "pop3":
        from deskmail.connectors.pop3 import Pop3Connector

        return Pop3Connector(inbound, secret, ca_file=settings.CA_FILE)
    raise ConnectorError(
        f"mailbox {mailbox.name}: the {inbound.protocol} protocol is not synced by the worker",
        permanent=True,
    )
