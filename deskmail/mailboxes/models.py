"""Mailbox accounts. The row holds the validated configuration and the encrypted secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from deskmail.core.crypto import EncryptedTextField

if TYPE_CHECKING:
    from deskmail.mailboxes.config import MailboxConfig


class Mailbox(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        DISABLED = "disabled"
        # Set by the worker after max_tries consecutive failures.
        FAILED = "failed"

    name = models.CharField(max_length=100, unique=True)
    key = models.CharField(max_length=5, unique=True)
    address = models.EmailField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # MailboxConfig as JSON, secrets excluded. name, key and address mirror the columns.
    config = models.JSONField(default=dict)
    inbound_secret = EncryptedTextField(blank=True, default="")
    outbound_secret = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # When it last became active: mail that reached the server before is history
    # (imported without acknowledgements or rate limits), mail after it is live.
    activated_at = models.DateTimeField(null=True, blank=True)
    # The configuration's version: the worker restarts a mailbox's sync when it moves.
    updated_at = models.DateTimeField(auto_now=True)

    # Health, written by the worker. Write these with QuerySet.update() rather than
    # save(), so that updated_at (the configuration version) does not move.
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Why the mailbox was set to failed, in words an operator can act on.
    failed_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, keeping the config's name/key/address and the address rows in step."""
        self.config = self._config_with_columns()
        if self.status == self.Status.ACTIVE and self.activated_at is None:
            self.activated_at = timezone.now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "config" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "config"]
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.sync_addresses()

    @property
    def settings(self) -> MailboxConfig:
        """The validated configuration; the status column is the live one."""
        # Loaded when a configuration is first read: its pydantic models take a while to
        # build, and a command that reads none (`deskmail tickets`) should not wait for them.
        from deskmail.mailboxes.config import MailboxConfig

        source = self._config_with_columns()
        cached = getattr(self, "_settings", None)
        if cached is None or cached[0] != source:
            parsed = MailboxConfig.model_validate(source)
            self._settings = (source, parsed)
            return parsed
        kept: MailboxConfig = cached[1]
        return kept

    def activate(self) -> None:
        """Make it active from now on (not saved): mail already on the server is history."""
        self.status = self.Status.ACTIVE
        self.activated_at = timezone.now()

    def own_addresses(self) -> dict[str, bool]:
        """Every address this mailbox receives for, mapped to whether it is an alias."""
        aliases = (self.config or {}).get("aliases") or []
        found = {str(alias).strip().lower(): True for alias in aliases}
        found[self.address.strip().lower()] = False
        return found

    def sync_addresses(self) -> None:
        """Make the MailboxAddress rows match the address and aliases."""
        wanted = self.own_addresses()
        self.addresses.exclude(address__in=list(wanted)).delete()
        existing = dict(self.addresses.values_list("address", "is_alias"))
        for address, is_alias in wanted.items():
            if address not in existing:
                MailboxAddress.objects.create(mailbox=self, address=address, is_alias=is_alias)
            elif existing[address] != is_alias:
                self.addresses.filter(address=address).update(is_alias=is_alias)

    def _config_with_columns(self) -> dict[str, Any]:
        return {**(self.config or {}), "name": self.name, "key": self.key, "address": self.address}


def request_retry(mailbox: Mailbox) -> None:
    """Ask the worker to try a failing mailbox again at once, whatever its cool-off.

    A new configuration version does it: the worker restarts the mailbox's sync
    on every version, and a sync restarted after the last failure does not wait.
    """
    Mailbox.objects.filter(pk=mailbox.pk).update(updated_at=timezone.now())


class MailboxAddress(models.Model):
    """Every address a mailbox receives for (its own address and its aliases), for lookup."""

    address = models.EmailField(unique=True)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="addresses")
    is_alias = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "mailbox addresses"

    def __str__(self) -> str:
        return self.address


class Membership(models.Model):
    """A person on a mailbox's team: an agent works its tickets, a supervisor oversees them."""

    class Role(models.TextChoices):
        AGENT = "agent"
        SUPERVISOR = "supervisor"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mailbox_memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "user"], name="one_membership_per_mailbox")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} is {self.role} of {self.mailbox_id}"


class OAuthGrant(models.Model):
    """A mailbox's OAuth2 tokens from a person's consent (`oauth: {grant: user}`), encrypted.

    The refresh token is the account's lifeline: a provider that rotates it
    accepts the new one only, so a rotated token is saved (row locked, in its own
    transaction) before the access token that came with it is used
    (`deskmail.mailboxes.grants`). The client secret lives here too when an admin
    entered it, instead of in the environment.
    """

    class Status(models.TextChoices):
        CONNECTED = "connected"
        # The provider refused the refresh token (revoked, expired, consent withdrawn):
        # only a person signing in again (Reauthorize) can fix it.
        REAUTHORIZE = "reauthorize"

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="oauth_grant")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CONNECTED)
    client_secret = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    access_token = EncryptedTextField(blank=True, default="")
    access_expires_at = models.DateTimeField(null=True, blank=True)
    # When the refresh token itself ends, as far as anyone can tell (the provider said
    # so, Google's 7 days for apps in testing, Microsoft's 90 days without use).
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    # Who signed in (from the ID token), shown so the admin sees which account is used.
    account = models.CharField(max_length=254, blank=True, default="")
    scope = models.TextField(blank=True, default="")
    # The provider's own words when it refused, for the console and `mailboxes status`.
    error = models.TextField(blank=True, default="")
    connected_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refreshes = models.PositiveIntegerField(default=0)
    # When the admins were warned that the refresh token ends soon; cleared when the
    # end moves (a new sign-in, a refresh), so each end is warned about once.
    warned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"OAuth grant of {self.mailbox_id} ({self.status})"
