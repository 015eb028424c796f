"""A mailbox's connections: its credentials, its inbound session, its sender, its test.

The one place that turns a mailbox row into something a connector can use:
the decrypted secret becomes a token source, the configuration picks the
protocol from the connector registry.

Graph and EWS read and send as `user`, the mailbox's own address unless the
configuration names another (the shared mailbox behind a login). An outbound
section of the same protocol as the inbound one (`outbound: {protocol: graph}`)
sends through the same account. With an `oauth` section and `auth: oauth2`, the
token is the application's own (client credentials); with `auth: oauth2` alone,
the stored secret is the access token. A Graph mailbox with a `notifications_url`
is woken by change notifications, kept in the database (`deskmail.msgraph`).
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from pydantic import SecretStr

from deskmail.connectors import registry
from deskmail.connectors.apptoken import AppToken
from deskmail.connectors.base import InboundSession, Sender
from deskmail.connectors.credentials import BearerToken, Password, TokenSource
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.graph_notifications import Notifiable
from deskmail.connectors.oauth import OAuthProvider
from deskmail.connectors.settings import (
    InboundConfig,
    OAuthSettings,
    OutboundConfig,
    borrows_inbound_login,
    sending_config,
)
from deskmail.connectors.testconn import Step, test_inbound, test_outbound
from deskmail.core.crypto import UNREADABLE_ADVICE, is_unreadable
from deskmail.env import env_str
from deskmail.mailboxes.grants import GrantTokenSource
from deskmail.mailboxes.models import Mailbox, OAuthGrant
from deskmail.msgraph.store import DatabaseSubscriptions

Direction = Literal["inbound", "outbound"]

# The app-only scope when the `oauth` section names none: the API the protocol speaks to.
DEFAULT_APP_SCOPE = {
    "graph": "https://graph.microsoft.com/.default",
    "default": "https://outlook.office365.com/.default",
}


def inbound_config(mailbox: Mailbox) -> InboundConfig | None:
    """The inbound settings, `user` defaulting to the mailbox's address."""
    inbound = mailbox.settings.inbound
    if inbound is None or inbound.user:
        return inbound
    return inbound.model_copy(update={"user": mailbox.address})


def outbound_config(mailbox: Mailbox) -> OutboundConfig | None:
    """The outbound settings, filled in from the inbound account when it is the same one."""
    outbound = mailbox.settings.outbound
    if outbound is None:
        return None
    sending = sending_config(outbound, inbound_config(mailbox))
    if sending.user:
        return sending
    return sending.model_copy(update={"user": mailbox.address})


def credentials(mailbox: Mailbox, direction: Direction) -> TokenSource:
    """What the mailbox logs in with for reading or for sending."""
    inbound, outbound = mailbox.settings.inbound, mailbox.settings.outbound
    if direction == "outbound" and outbound is not None:
        if borrows_inbound_login(outbound, inbound):
            direction = "inbound"
    config = inbound if direction == "inbound" else outbound
    secret = (mailbox.inbound_secret if direction == "inbound" else mailbox.outbound_secret) or ""
    if is_unreadable(secret):
        raise ConnectorError(
            f"the stored {direction} secret of mailbox {mailbox.name} {UNREADABLE_ADVICE}",
            permanent=True,
            auth=True,
        )
    if config is not None and config.auth == "oauth2":
        oauth = mailbox.settings.oauth
        if oauth is not None and oauth.grant == "user":
            return GrantTokenSource(mailbox.pk, mailbox.name)
        if oauth is not None:
            return AppToken(_provider(mailbox, oauth), _scope(oauth, config.protocol))
        return BearerToken(secret)
    return Password(secret)


def _provider(mailbox: Mailbox, oauth: OAuthSettings) -> OAuthProvider:
    stored = OAuthGrant.objects.filter(mailbox=mailbox).values_list("client_secret", flat=True)
    secret = next(iter(stored), "") or (
        env_str(oauth.client_secret_env) if oauth.client_secret_env else ""
    )
    if not secret:
        where = (
            f"the environment variable {oauth.client_secret_env} (client_secret_env) is empty "
            "in this process"
            if oauth.client_secret_env
            else "enter it in the console or name an environment variable in client_secret_env"
        )
        raise ConnectorError(
            f"the OAuth client secret is not set: {where}", permanent=True, auth=True
        )
    try:
        return OAuthProvider(
            kind=oauth.provider,
            client_id=oauth.client_id,
            client_secret=SecretStr(secret),
            tenant=oauth.tenant,
            authority_host=oauth.authority_host,
            token_url=oauth.token_url,
            # Client credentials never visit the authorization endpoint.
            auth_url=oauth.token_url if oauth.provider == "generic" else None,
            ca_file=settings.CA_FILE,
        )
    except ValueError as exc:
        raise ConnectorError(f"the oauth settings are wrong: {exc}", permanent=True) from None


def _scope(oauth: OAuthSettings, protocol: str) -> tuple[str, ...]:
    if oauth.scope:
        return tuple(oauth.scope)
    return (DEFAULT_APP_SCOPE.get(protocol, DEFAULT_APP_SCOPE["default"]),)


def inbound_session(mailbox: Mailbox) -> InboundSession:
    """A (not yet opened) session reading the mailbox's source."""
    inbound = inbound_config(mailbox)
    if inbound is None:
        raise ConnectorError(f"mailbox {mailbox.name} has no inbound settings", permanent=True)
    session = registry.inbound(inbound, credentials(mailbox, "inbound"), ca_file=settings.CA_FILE)
    if inbound.notifications_url and isinstance(session, Notifiable):
        session.notify_through(DatabaseSubscriptions(mailbox.pk))
    return session


def sender(mailbox: Mailbox) -> Sender:
    """A (not yet opened) connection sending the mailbox's mail."""
    outbound = outbound_config(mailbox)
    if outbound is None:
        raise ConnectorError(f"mailbox {mailbox.name} has no outbound settings", permanent=True)
    return registry.outbound(outbound, credentials(mailbox, "outbound"), ca_file=settings.CA_FILE)


def syncs(mailbox: Mailbox) -> bool:
    """Whether the worker keeps a session open for this mailbox."""
    inbound = mailbox.settings.inbound
    return inbound is not None and registry.syncs(inbound.protocol)


def test(mailbox: Mailbox) -> dict[Direction, list[Step] | None]:
    """The connection test of each configured direction (None: not configured)."""
    return {"inbound": _test(mailbox, "inbound"), "outbound": _test(mailbox, "outbound")}


def _test(mailbox: Mailbox, direction: Direction) -> list[Step] | None:
    config = inbound_config(mailbox) if direction == "inbound" else outbound_config(mailbox)
    if config is None:
        return None
    try:
        tokens = credentials(mailbox, direction)
    except ConnectorError as exc:  # e.g. the OAuth client secret is not in the environment
        return [Step("credentials", False, exc.message, exc.server_reply)]
    if isinstance(config, InboundConfig):
        return test_inbound(config, tokens, ca_file=settings.CA_FILE)
    return test_outbound(config, tokens, ca_file=settings.CA_FILE)
