"""Mailbox accounts. The row holds the validated configuration and the encrypted secrets."""

from __future__ import annotations

from django.db import models

from deskmail.core.crypto import EncryptedTextField
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
    # MailboxConfig as JSON, secrets excluded.
    config = models.JSONField(default=dict)
    inbound_secret = EncryptedTextField(blank=True, default="")
    outbound_secret = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"

    @property
    def settings(self) -> MailboxConfig:
        """The validated configuration; the status column is the live one."""
        cached = getattr(self, "_settings", None)
        if cached is None or cached[0] != self.config:
            parsed = MailboxConfig.model_validate(self.config)
            self._settings = (self.config, parsed)
            return parsed
        return cached[1]


class MailboxAddress(models.Model):
    """Every address a mailbox receives for (its own address and its aliases), for lookup."""

    address = models.EmailField(unique=True)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="addresses")
    is_alias = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.address
