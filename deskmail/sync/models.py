"""Sync state per mailbox: who holds it (the lease) and how far it got (the cursor).

The cursor advances in the same transaction that stores the messages it
covers in the inbox, so after a crash the next sync starts exactly after the
last stored message.
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
    # Set while the holder keeps the lease but fetches nothing: the channel is off.
    paused_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.mailbox_id} held by {self.owner or 'nobody'}"


class SyncCursor(models.Model):
    """How far a mailbox's source is stored: the connector's own cursor, opaque here.

    IMAP keeps its UIDVALIDITY and highest UID there, POP3 the UIDLs it has
    seen, Graph a deltaLink, EWS a sync state; each also lists what is stored
    but not yet acknowledged on the server. The cursor is written in the same
    transaction as the inbox rows of the messages it covers.
    """

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="sync_cursor")
    value = models.JSONField(default=dict, blank=True)
    # The server's offer not yet stored, and since when it waits: for health.
    backlog = models.IntegerField(default=0)
    oldest_pending_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.mailbox_id}: {self.value}"


class WorkerBeat(models.Model):
    """A running worker says so every tick; the live ones share the mailboxes evenly.

    A worker counts as live while its beat is younger than a lease, so one that dies
    stops counting at about the moment its leases run out.
    """

    owner = models.CharField(max_length=200, unique=True)
    capacity = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.owner} (up to {self.capacity} mailboxes)"
