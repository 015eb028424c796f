"""OAuth2 for mailboxes that a person connected: the token source, connecting, reauthorizing.

A mailbox with `auth: oauth2` and `oauth: {grant: user, ...}` logs in with an
access token that deskmail refreshes itself from the refresh token stored, encrypted,
in its `OAuthGrant`:

    pending = start(mailbox, state)             # the browser goes to pending.url
    finish(mailbox, pending.verifier, query)    # back at /oauth/callback/: connected
    GrantTokenSource(mailbox).secret()          # a fresh access token, at each login

Refreshing is the delicate part. Providers rotate refresh tokens (Microsoft may,
the local test server always does): the old one is refused once the new one was
issued. So the grant's row is locked (`SELECT ... FOR UPDATE` on PostgreSQL; an
immediate write transaction on SQLite) while the refresh runs, the rotated token
is written in that same transaction, and only after the commit is the new access
token used. Two workers refreshing at once take turns, and the second finds the
first one's fresh token. The transaction is durable (never nested in a caller's),
so a caller's rollback cannot throw a rotated token away.

A refusal that only a new sign-in can fix (`invalid_grant`, Microsoft's
`AADSTS...` for revoked or expired grants, withdrawn consent) turns the grant to
"reauthorize" and raises a ConnectorError marked `reauthorize`, on which the
worker fails the mailbox at once, with the provider's words: no retry loop
hammering the provider. Connecting again (Reauthorize) puts it back,
and the worker picks the mailbox up without losing mail (its cursor is untouched).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from pydantic import SecretStr

from deskmail.connectors.credentials import Mechanism
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.oauth import (
    OAuthError,
    OAuthProvider,
    PendingAuthorization,
    TokenSet,
    finish_authorization,
    refresh,
    start_authorization,
)
from deskmail.connectors.settings import OAuthSettings
from deskmail.env import env_str
from deskmail.mailboxes.models import Mailbox, OAuthGrant, request_retry

log = logging.getLogger(__name__)

# An access token this close to its end is refreshed rather than used.
REFRESH_EARLY_S = 300
# Microsoft ends a refresh token unused for 90 days; Google one of an app in testing
# after 7 days (whatever its use).
MICROSOFT_IDLE = dt.timedelta(days=90)
GOOGLE_TESTING = dt.timedelta(days=7)
# Admins are warned this long before a refresh token is known to end.
WARN_BEFORE = dt.timedelta(days=3)

REAUTHORIZE_ADVICE = "sign in again with Reauthorize (console) or `deskmail mailboxes authorize`"


class GrantError(Exception):
    """Connecting failed: the message says why, in words for the admin (no token in it)."""


def oauth_settings(mailbox: Mailbox) -> OAuthSettings:
    oauth = mailbox.settings.oauth
    if oauth is None or oauth.grant != "user":
        raise GrantError(
            f"mailbox {mailbox.name} is not set up for a user's OAuth2 sign-in "
            "(it needs `auth: oauth2` and an `oauth:` section with `grant: user`)"
        )
    return oauth


def provider(mailbox: Mailbox, stored_secret: str = "") -> OAuthProvider:
    """Where and as whom the mailbox's tokens are asked for."""
    oauth = oauth_settings(mailbox)
    secret = stored_secret or (env_str(oauth.client_secret_env) if oauth.client_secret_env else "")
    if oauth.client_secret_env and not secret:
        raise GrantError(
            f"the OAuth client secret is not set: the environment variable "
            f"{oauth.client_secret_env} (client_secret_env) is empty in this process"
        )
    try:
        return OAuthProvider(
            kind=oauth.provider,
            client_id=oauth.client_id,
            client_secret=SecretStr(secret) if secret else None,
            tenant=oauth.tenant,
            scope=tuple(oauth.scope),
            authority_host=oauth.authority_host,
            auth_url=oauth.auth_url,
            token_url=oauth.token_url,
            redirect_uri=oauth.redirect_uri,
            ca_file=settings.CA_FILE,
        )
    except ValueError as exc:
        raise GrantError(f"the oauth settings of mailbox {mailbox.name} are wrong: {exc}") from None


def _stored_secret(mailbox: Mailbox) -> str:
    grant = OAuthGrant.objects.filter(mailbox=mailbox).first()
    return grant.client_secret if grant is not None else ""


# -- connecting ---------------------------------------------------------------------------


def start(mailbox: Mailbox, state: str, *, client_secret: str = "") -> PendingAuthorization:
    """Begin a sign-in for the mailbox: send the browser to the result's `url`."""
    found = provider(mailbox, client_secret or _stored_secret(mailbox))
    hint = _login_name(mailbox)
    try:
        return start_authorization(found, state, login_hint=hint)
    except OAuthError as exc:
        raise GrantError(exc.message) from None


def finish(
    mailbox: Mailbox, verifier: str, callback: Mapping[str, str], *, client_secret: str = ""
) -> OAuthGrant:
    """Redeem the provider's answer (the callback's query) and keep the tokens."""
    secret = client_secret or _stored_secret(mailbox)
    try:
        tokens = finish_authorization(provider(mailbox, secret), verifier, callback)
    except OAuthError as exc:
        raise GrantError(exc.message) from None
    return save(mailbox, tokens, client_secret=secret)


def connect_with_refresh_token(
    mailbox: Mailbox, refresh_token: str, *, client_secret: str = ""
) -> OAuthGrant:
    """The manual mode: a refresh token obtained elsewhere, redeemed once to check it."""
    secret = client_secret or _stored_secret(mailbox)
    try:
        tokens = refresh(provider(mailbox, secret), refresh_token)
    except OAuthError as exc:
        raise GrantError(exc.message) from None
    return save(mailbox, tokens, client_secret=secret)


def save(mailbox: Mailbox, tokens: TokenSet, *, client_secret: str = "") -> OAuthGrant:
    """Keep a new sign-in's tokens; a mailbox failed for want of one is tried again at once."""
    if not tokens.refresh_token:
        raise GrantError(
            "the provider sent no refresh token, so the connection would end within the "
            "hour: ask for offline access (Microsoft: the `offline_access` scope; Google: "
            "consent again, which asks for offline access)"
        )
    login = _login_name(mailbox)
    protocol = mailbox.settings.inbound.protocol if mailbox.settings.inbound else ""
    if tokens.account and login and protocol in ("imap", "pop3"):
        if tokens.account.lower() != login.lower():
            raise GrantError(
                f"signed in as {tokens.account}, but the mailbox logs in as {login}: "
                f"sign in with {login}, or change the user name"
            )
    now = timezone.now()
    with transaction.atomic():
        grant, _ = OAuthGrant.objects.select_for_update().get_or_create(mailbox=mailbox)
        grant.status = OAuthGrant.Status.CONNECTED
        grant.error = ""
        grant.client_secret = client_secret
        grant.connected_at = now
        grant.account = tokens.account or ""
        grant.warned_at = None
        _keep(grant, tokens, now, mailbox)
        grant.save()
        if mailbox.status == Mailbox.Status.FAILED:
            request_retry(mailbox)
    log.info("mailbox %s: OAuth2 connected (%s)", mailbox.name, grant.account or "account unknown")
    return grant


def _login_name(mailbox: Mailbox) -> str:
    inbound = mailbox.settings.inbound
    return (inbound.username if inbound and inbound.username else "") or mailbox.address


def _keep(grant: OAuthGrant, tokens: TokenSet, now: dt.datetime, mailbox: Mailbox) -> None:
    grant.access_token = tokens.access_token
    grant.access_expires_at = tokens.expires_at
    grant.refresh_token = tokens.refresh_token or grant.refresh_token
    grant.scope = " ".join(tokens.scope)
    ends = _refresh_ends(grant, tokens, now, mailbox)
    if ends != grant.refresh_expires_at:
        grant.warned_at = None  # a warning is about one end: a new end is warned about again
    grant.refresh_expires_at = ends


def _refresh_ends(
    grant: OAuthGrant, tokens: TokenSet, now: dt.datetime, mailbox: Mailbox
) -> dt.datetime | None:
    if tokens.refresh_expires_at is not None:
        return tokens.refresh_expires_at
    oauth = mailbox.settings.oauth
    if oauth is not None and oauth.provider == "google" and oauth.testing_app:
        return grant.connected_at + GOOGLE_TESTING
    if oauth is not None and oauth.provider == "microsoft":
        return now + MICROSOFT_IDLE
    return None


# -- the token source -----------------------------------------------------------------------


class GrantTokenSource:
    """A mailbox's access token, refreshed from its grant when it is about to end.

    The token is kept in memory until it is about to end or a server refuses it: a
    connector asks for it on every request, also from its own threads (Graph reads four
    messages at a time), and those must not each need the database, where they would
    open connections of their own and could not see a grant not yet committed.
    """

    mechanism: Mechanism = "xoauth2"

    def __init__(self, mailbox_id: int, mailbox_name: str) -> None:
        self.mailbox_id = mailbox_id
        self.mailbox_name = mailbox_name
        self._known: tuple[str, dt.datetime] | None = None  # the token and when it ends

    def _remember(self, grant: OAuthGrant) -> str:
        if grant.access_expires_at is not None:
            self._known = (grant.access_token, grant.access_expires_at)
        return grant.access_token

    def __repr__(self) -> str:
        return f"GrantTokenSource({self.mailbox_name})"

    def secret(self) -> str:
        known = self._known
        if known is not None and known[1] > timezone.now() + dt.timedelta(seconds=REFRESH_EARLY_S):
            return known[0]
        grant = OAuthGrant.objects.filter(mailbox_id=self.mailbox_id).first()
        if grant is None:
            raise ConnectorError(
                f"mailbox {self.mailbox_name} is not connected to its OAuth2 provider yet: "
                f"connect it in the console or with `deskmail mailboxes authorize "
                f"{self.mailbox_name}`",
                permanent=True,
                auth=True,
            )
        if _usable(grant):
            return self._remember(grant)
        return self._refreshed()

    def invalidate(self) -> None:
        """The server refused the access token: the next `secret()` refreshes."""
        self._known = None
        OAuthGrant.objects.filter(mailbox_id=self.mailbox_id).update(access_expires_at=None)

    def _refreshed(self) -> str:
        refused: OAuthError | None = None
        with transaction.atomic(durable=True):
            grant = (
                OAuthGrant.objects.select_for_update()
                .select_related("mailbox")
                .get(mailbox_id=self.mailbox_id)
            )
            if grant.status == OAuthGrant.Status.REAUTHORIZE:
                raise _reauthorize_error(grant)
            if _usable(grant):  # another worker refreshed while we waited for the lock
                return self._remember(grant)
            try:
                found = provider(grant.mailbox, grant.client_secret)
            except GrantError as exc:
                raise ConnectorError(str(exc), permanent=True, auth=True) from None
            try:
                tokens = refresh(found, grant.refresh_token)
            except OAuthError as exc:
                if not exc.reauthorize:
                    raise ConnectorError(
                        exc.message,
                        permanent=exc.permanent,
                        server_reply=exc.description or exc.provider_error,
                        auth=exc.permanent,
                    ) from None
                refused = exc
                _mark_reauthorize(grant, exc)
            else:
                now = timezone.now()
                _keep(grant, tokens, now, grant.mailbox)
                grant.refreshed_at = now
                grant.refreshes += 1
                grant.save()
                self._remember(grant)
                return tokens.access_token
        assert refused is not None
        raise _reauthorize_error(grant)


def _usable(grant: OAuthGrant) -> bool:
    if grant.status != OAuthGrant.Status.CONNECTED or not grant.access_token:
        return False
    ends = grant.access_expires_at
    return ends is not None and ends > timezone.now() + dt.timedelta(seconds=REFRESH_EARLY_S)


def _mark_reauthorize(grant: OAuthGrant, exc: OAuthError) -> None:
    """The grant is dead: say so on it, in the caller's transaction (the worker fails the
    mailbox at once when it sees the error's `reauthorize`)."""
    grant.status = OAuthGrant.Status.REAUTHORIZE
    grant.error = exc.message
    grant.access_token = ""
    grant.access_expires_at = None
    grant.save()
    log.error(
        "mailbox %s: OAuth2 grant refused, reauthorization needed: %s",
        grant.mailbox.name,
        exc.message,
    )


def _reauthorize_error(grant: OAuthGrant) -> ConnectorError:
    return ConnectorError(
        f"the OAuth2 sign-in of mailbox {grant.mailbox.name} was refused: {grant.error} "
        f"To fix it, {REAUTHORIZE_ADVICE}.",
        permanent=True,
        auth=True,
        reauthorize=True,
    )


# -- warnings ------------------------------------------------------------------------------


def _ending(now: dt.datetime) -> QuerySet[OAuthGrant]:
    """Connected grants whose refresh token is known to end within WARN_BEFORE (or ended
    already, unnoticed because nothing refreshed since)."""
    return OAuthGrant.objects.filter(
        status=OAuthGrant.Status.CONNECTED,
        refresh_expires_at__isnull=False,
        refresh_expires_at__lte=now + WARN_BEFORE,
    )


def ending_soon(now: dt.datetime | None = None) -> list[OAuthGrant]:
    """Grants ending soon whose admins were not warned yet about this end."""
    found = _ending(now or timezone.now()).filter(warned_at__isnull=True)
    return list(found.select_related("mailbox").order_by("refresh_expires_at", "pk"))


def ends_on(mailbox_ids: Iterable[int], now: dt.datetime | None = None) -> dict[int, dt.datetime]:
    """When the sign-in of each of these mailboxes ends, for those ending soon."""
    rows = _ending(now or timezone.now()).filter(mailbox_id__in=list(mailbox_ids))
    pairs = rows.values_list("mailbox_id", "refresh_expires_at")
    return {mailbox_id: ends for mailbox_id, ends in pairs if ends is not None}


def mark_warned(grant: OAuthGrant, now: dt.datetime | None = None) -> bool:
    """Note that the admins were warned about this end; False when someone else (another
    worker) noted it first, so that every end is warned about once."""
    claimed = OAuthGrant.objects.filter(
        pk=grant.pk, warned_at__isnull=True, refresh_expires_at=grant.refresh_expires_at
    ).update(warned_at=now or timezone.now())
    return claimed == 1
