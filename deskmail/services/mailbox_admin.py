"""Mailboxes as admins see them: configuration without secrets, health, on and off.

Everyone may list the mailboxes they work in (to pick one for a new ticket);
the accounts list, the configuration, health, switching and deleting are for admins.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, ProtectedError, Q
from django.utils import timezone

from deskmail.connectors.oauth import PendingAuthorization
from deskmail.connectors.testconn import Step
from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.ingest.models import InboxItem
from deskmail.mailboxes import connections, grants, loading
from deskmail.mailboxes.models import Mailbox, Membership, OAuthGrant
from deskmail.mailboxes.presets import kind_label
from deskmail.outbound.models import OutboxItem
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid
from deskmail.sync.models import SyncCursor
from deskmail.tickets.models import Message, Ticket

log = logging.getLogger(__name__)


def configured(actor: Actor, name: str) -> tuple[Mailbox, dict[str, Any]]:
    """The mailbox and its configuration as JSON; secrets are never part of it."""
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    config = mailbox.settings.model_dump(mode="json", by_alias=True, exclude_none=True)
    config["status"] = mailbox.status
    return mailbox, config


@dataclass(frozen=True)
class Health:
    status: str
    failed_reason: str
    last_sync_at: Any
    last_error: str
    last_error_at: Any
    consecutive_failures: int
    outbox_pending: int
    outbox_failed: int
    has_inbound_secret: bool
    has_outbound_secret: bool


def health(actor: Actor, name: str) -> Health:
    """What the worker last wrote for the mailbox, and its mail waiting to go out."""
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    own = Q(mailbox=mailbox) | Q(mailbox__isnull=True, ticket__mailbox=mailbox)
    counts = OutboxItem.objects.filter(own).aggregate(
        pending=Count(
            "id", filter=Q(status__in=[OutboxItem.Status.PENDING, OutboxItem.Status.SENDING])
        ),
        failed=Count("id", filter=Q(status=OutboxItem.Status.FAILED)),
    )
    return Health(
        status=mailbox.status,
        failed_reason=mailbox.failed_reason,
        last_sync_at=mailbox.last_sync_at,
        last_error=mailbox.last_error,
        last_error_at=mailbox.last_error_at,
        consecutive_failures=mailbox.consecutive_failures,
        outbox_pending=int(counts["pending"] or 0),
        outbox_failed=int(counts["failed"] or 0),
        has_inbound_secret=bool(mailbox.inbound_secret),
        has_outbound_secret=bool(mailbox.outbound_secret),
    )


def set_enabled(actor: Actor, name: str, enabled: bool) -> Mailbox:
    """Switch a mailbox on (active, its failure count cleared) or off (disabled).

    Saving moves its configuration version, so the worker picks the change up.
    """
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    if enabled and mailbox.status == Mailbox.Status.DRAFT and not mailbox.settings.inbound:
        raise Invalid(f"mailbox {name} has no inbound settings yet", field="status")
    wanted = Mailbox.Status.ACTIVE if enabled else Mailbox.Status.DISABLED
    if mailbox.status != wanted:
        mailbox.status = wanted
        mailbox.save(update_fields=["status", "updated_at"])
    if enabled and (mailbox.consecutive_failures or mailbox.failed_reason):
        Mailbox.objects.filter(pk=mailbox.pk).update(consecutive_failures=0, failed_reason="")
        mailbox.refresh_from_db()
    return mailbox


@dataclass(frozen=True)
class Account:
    """One row of the admins' accounts list."""

    mailbox: Mailbox
    kind: str
    purpose: str
    status: str
    failed_reason: str
    last_sync_at: dt.datetime | None
    # Mail offered by the server and not yet stored, plus stored and not yet processed;
    # None before the first sync.
    backlog: int | None
    agents: list[str]
    tickets: int
    # "", "connected" or "reauthorize": the state of a person's OAuth2 sign-in.
    oauth: str
    oauth_error: str = ""
    oauth_account: str = ""
    # When a connected sign-in ends, if that is soon (a provider's known limit): the
    # admin reauthorizes before it does.
    oauth_ends_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return self.mailbox.name

    @property
    def oauth_provider(self) -> str:
        """ "microsoft", "google" or "generic" for an account a person signs in for, else ""."""
        settings = _settings_or_none(self.mailbox)
        if settings is None or settings.oauth is None or settings.oauth.grant != "user":
            return ""
        return str(settings.oauth.provider)

    @property
    def uses_oauth(self) -> bool:
        return bool(self.oauth_provider)

    @property
    def needs_sign_in(self) -> bool:
        """Nobody signed in yet, the provider refused the grant, or the account failed."""
        return self.uses_oauth and (
            self.oauth != OAuthGrant.Status.CONNECTED or self.status == Mailbox.Status.FAILED
        )

    @property
    def signed_in_before(self) -> bool:
        return self.oauth == OAuthGrant.Status.CONNECTED or (
            self.oauth == OAuthGrant.Status.REAUTHORIZE and self.oauth_error != NOT_SIGNED_IN
        )


PURPOSES = {"receive": "receive", "receive_send": "receive and send"}


def _settings_or_none(mailbox: Mailbox) -> Any:
    try:
        return mailbox.settings
    except ValueError:  # a stored configuration that no longer validates
        return None


def accounts(actor: Actor, names: list[str] | None = None) -> list[Account]:
    """Every mailbox account, with its health and team: for admins only."""
    access.require_admin(actor)
    boxes = access.mailboxes(actor).order_by("name")
    if names is not None:
        boxes = boxes.filter(name__in=names)
    rows = list(boxes.annotate(ticket_count=Count("tickets", distinct=True)))
    ids = [m.pk for m in rows]
    cursors = {c.mailbox_id: c.backlog for c in SyncCursor.objects.filter(mailbox_id__in=ids)}
    waiting = dict(
        InboxItem.objects.filter(mailbox_id__in=ids)
        .values("mailbox_id")
        .annotate(n=Count("id"))
        .values_list("mailbox_id", "n")
    )
    signed_in = {
        row[0]: row[1:]
        for row in OAuthGrant.objects.filter(mailbox_id__in=ids).values_list(
            "mailbox_id", "status", "error", "account"
        )
    }
    ending = grants.ends_on(ids)
    agents: dict[int, list[str]] = {}
    members = Membership.objects.filter(mailbox_id__in=ids).select_related("user")
    for member in members.order_by("user__email"):
        label = member.user.email + (" (supervisor)" if member.role == "supervisor" else "")
        agents.setdefault(member.mailbox_id, []).append(label)
    out = []
    for mailbox in rows:
        settings = _settings_or_none(mailbox)
        backlog = None
        if mailbox.pk in cursors or mailbox.pk in waiting:
            backlog = cursors.get(mailbox.pk, 0) + waiting.get(mailbox.pk, 0)
        out.append(
            Account(
                mailbox=mailbox,
                kind=kind_label(settings) if settings else "invalid configuration",
                purpose=PURPOSES.get(settings.purpose, "") if settings else "",
                status=mailbox.status,
                failed_reason=mailbox.failed_reason or mailbox.last_error,
                last_sync_at=mailbox.last_sync_at,
                backlog=backlog,
                agents=agents.get(mailbox.pk, []),
                tickets=int(mailbox.ticket_count),
                oauth=signed_in.get(mailbox.pk, ("",))[0],
                oauth_error=signed_in.get(mailbox.pk, ("", ""))[1],
                oauth_account=signed_in.get(mailbox.pk, ("", "", ""))[2],
                oauth_ends_at=ending.get(mailbox.pk),
            )
        )
    return out


def account(actor: Actor, name: str) -> Account:
    """One account as the list shows it; NotFound for a name that does not exist."""
    access.mailbox(actor, name)
    found = accounts(actor, [name])
    return found[0]


def delete(actor: Actor, name: str) -> None:
    """Delete a mailbox account with no mail of its own.

    Its settings, stored secrets, OAuth2 connection, team, sync position and waiting
    inbox go with it; mail on the server is left alone. A mailbox that has tickets
    (or messages, or replies in the outbox) is kept: they would lose where they came
    from and where replies go. Disable it instead.
    """
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    tickets = Ticket.objects.filter(mailbox=mailbox).count()
    if tickets:
        raise Invalid(
            f"mailbox {name} has {tickets} ticket{'s' if tickets != 1 else ''}, which need "
            "it; disable it instead",
            field="mailbox",
        )
    if (
        Message.objects.filter(mailbox=mailbox).exists()
        or OutboxItem.objects.filter(mailbox=mailbox).exists()
    ):
        raise Invalid(f"mailbox {name} has mail stored; disable it instead", field="mailbox")
    try:
        with transaction.atomic():
            mailbox.delete()
    except ProtectedError as exc:
        raise Invalid(
            f"mailbox {name} is still in use; disable it instead: {exc.args[0]}"
        ) from None


# -- adding and changing accounts ------------------------------------------------------


class AccountInvalid(Invalid):
    """The account's settings are wrong: every problem, each with the field it is about
    (a path of the configuration, `inbound.port`, or "" for the whole account)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        field, message = problems[0]
        super().__init__(f"{field}: {message}" if field else message, field=field or None)


@dataclass(frozen=True)
class Secrets:
    """Secrets typed in by an admin; None keeps what is stored."""

    inbound: str | None = None
    outbound: str | None = None
    oauth_client: str | None = None


NOT_SIGNED_IN = "nobody has signed in for this account yet"


def stored_config(mailbox: Mailbox) -> dict[str, Any]:
    """The account's configuration as `deskmail mailboxes load` would read it back."""
    return _merged(mailbox, {})


def _merged(mailbox: Mailbox | None, changes: dict[str, Any]) -> dict[str, Any]:
    """The account's configuration with the changes: sections merged key by key (settings
    the form does not show survive), None removing a key."""
    data: dict[str, Any] = dict(mailbox.config or {}) if mailbox is not None else {}
    for key, value in changes.items():
        current = data.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            data[key] = {**current, **value}
        else:
            data[key] = value
    if mailbox is not None:
        data["name"] = mailbox.name
        if mailbox.status != Mailbox.Status.FAILED:
            data.setdefault("status", mailbox.status)
    cleaned: dict[str, Any] = _without_none(data)
    return cleaned


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def _refused(exc: loading.LoadRefused) -> AccountInvalid:
    return AccountInvalid([(p.path, p.message) for p in exc.problems])


def save_account(
    actor: Actor, changes: dict[str, Any], secrets: Secrets, *, name: str | None = None
) -> Mailbox:
    """Add an account (name None) or change one, with its secrets, all or nothing.

    The configuration is checked and written exactly as `deskmail mailboxes load`
    does it; secrets are stored encrypted, the OAuth client secret with the
    account's OAuth2 connection. AccountInvalid names every field that is wrong.
    """
    access.require_admin(actor)
    existing = access.mailbox(actor, name) if name is not None else None
    data = _merged(existing, changes)
    if existing is None and Mailbox.objects.filter(name=data.get("name", "")).exists():
        raise AccountInvalid([("name", f"an account named {data['name']!r} exists already")])
    try:
        with transaction.atomic():
            loading.apply_one(
                data, inbound_secret=secrets.inbound, outbound_secret=secrets.outbound
            )
            mailbox = Mailbox.objects.get(name=data["name"])
            if secrets.oauth_client:
                grant, created = OAuthGrant.objects.get_or_create(
                    mailbox=mailbox,
                    defaults={"status": OAuthGrant.Status.REAUTHORIZE, "error": NOT_SIGNED_IN},
                )
                grant.client_secret = secrets.oauth_client
                grant.save(update_fields=["client_secret"])
    except loading.LoadRefused as exc:
        raise _refused(exc) from None
    return mailbox


def try_account(
    actor: Actor, changes: dict[str, Any], secrets: Secrets, *, name: str | None = None
) -> dict[connections.Direction, list[Step] | None]:
    """The connection test of settings not saved yet (nothing is written)."""
    access.require_admin(actor)
    existing = access.mailbox(actor, name) if name is not None else None
    data = _merged(existing, changes)
    try:
        config = loading.check_one(data)
    except loading.LoadRefused as exc:
        raise _refused(exc) from None
    trial = Mailbox(
        pk=existing.pk if existing is not None else None,
        name=config.name,
        key=config.key,
        address=config.address,
        config=config.model_dump(mode="json", by_alias=True),
    )
    trial.inbound_secret = _secret(secrets.inbound, existing, "inbound_secret")
    trial.outbound_secret = _secret(secrets.outbound, existing, "outbound_secret")
    return connections.test(trial)


def _secret(given: str | None, existing: Mailbox | None, field: str) -> str:
    if given is not None:
        return given
    return str(getattr(existing, field) or "") if existing is not None else ""


def test(actor: Actor, name: str) -> dict[connections.Direction, list[Step] | None]:
    """`deskmail mailboxes test` for a saved account: a verdict per step, the server's words."""
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    return connections.test(mailbox)


# -- signing in with OAuth2 --------------------------------------------------------------


def start_sign_in(actor: Actor, name: str, state: str) -> PendingAuthorization:
    """Begin a person's OAuth2 sign-in for the account (authorization code with PKCE).

    Keep the result's `verifier` server-side and send the browser to its `url`.
    """
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    try:
        return grants.start(mailbox, state)
    except grants.GrantError as exc:
        raise Invalid(str(exc), field="oauth") from None


def finish_sign_in(actor: Actor, name: str, verifier: str, callback: dict[str, str]) -> OAuthGrant:
    """Redeem the provider's answer and keep the tokens (encrypted) with the account."""
    mailbox = access.mailbox(actor, name)
    access.require_admin(actor)
    try:
        return grants.finish(mailbox, verifier, callback)
    except grants.GrantError as exc:
        raise Invalid(str(exc), field="oauth") from None


def warn_sign_ins_ending(now: dt.datetime | None = None) -> list[str]:
    """Warn once about each OAuth2 sign-in that ends soon: the names of the mailboxes warned.

    The worker runs it periodically. Each warning is an event (`mailbox.sign_in_ending`,
    for webhooks and the log), written in the transaction that marks the grant warned,
    so two workers never warn twice; a new sign-in (Reauthorize) ends the warning, and
    the accounts pages show the date until then. No mail is sent: the outbox sends only
    mail that belongs to a ticket.
    """
    now = now or timezone.now()
    warned = []
    for grant in grants.ending_soon(now):
        mailbox = grant.mailbox
        ends = grant.refresh_expires_at
        assert ends is not None
        with transaction.atomic():
            if not grants.mark_warned(grant, now):
                continue
            emit(
                Event.Kind.MAILBOX_SIGN_IN_ENDING,
                mailbox_id=mailbox.pk,
                mailbox=mailbox.name,
                account=grant.account,
                ends_at=ends.isoformat(),
                advice=f"To keep the account working, {grants.REAUTHORIZE_ADVICE} before then.",
            )
        log.warning("mailbox %s: its OAuth2 sign-in ends at %s", mailbox.name, ends.isoformat())
        warned.append(mailbox.name)
    return warned
