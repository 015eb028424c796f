"""Sync state per mailbox: who holds it (the lease) and how far it got (the checkpoint).

A checkpoint row advances in the same transaction that stores a message, so
after a crash the next sync starts exactly after the last stored message.
"""

from __future__ import annotations

from django.db import models

from deskmail.mailboxes.models import Mailbox


class Lease(models.Model):
    """One worker at a time syncs a mailbox; a worker that dies loses it at `expires_at`."""

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="lease")
    owner = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.mailbox_id} held by {self.owner or 'nobody'}"


class FolderCheckpoint(models.Model):
    """IMAP: the UIDVALIDITY and the highest UID stored, per mailbox and folder."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="checkpoints")
    folder = models.CharField(max_length=500)
    uidvalidity = models.BigIntegerField(null=True)
    last_uid = models.BigIntegerField(default=0)
    # The after-fetch action (seen/move/delete) runs after the commit; UIDs up to
    # `acked_uid` have had it. A crash in between is finished on the next sync.
    acked_uid = models.BigIntegerField(default=0)
    # The server's message count and how many are still to be fetched, for health.
    server_count = models.IntegerField(default=0)
    backlog = models.IntegerField(default=0)
    oldest_pending_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "folder"], name="one_checkpoint_per_folder")
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id}:{self.folder} {self.uidvalidity}/{self.last_uid}"


class SeenUidl(models.Model):
    """POP3: every UIDL already stored, so nothing is fetched twice."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="seen_uidls")
    uidl = models.CharField(max_length=200)
    seen_at = models.DateTimeField(auto_now_add=True)
    # Deleted on the server after storing (after_fetch: delete), so it can be forgotten later.
    deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mailbox", "uidl"], name="one_row_per_uidl")]

    def __str__(self) -> str:
        return f"{self.mailbox_id}:{self.uidl}"
