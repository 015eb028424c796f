"""A mailbox's Graph subscription, and whether a notification for it is waiting to be seen."""

from __future__ import annotations

from django.db import models


class GraphSubscription(models.Model):
    """One row per Graph mailbox with change notifications.

    The worker that syncs the mailbox writes the subscription (id, clientState,
    expiry); the notification endpoint, in the web process, sets `wake` and what a
    lifecycle event asked for; the worker takes `wake` back and syncs.
    """

    class Needs(models.TextChoices):
        NOTHING = ""
        REAUTHORIZE = "reauthorize"
        RECREATE = "recreate"

    mailbox = models.OneToOneField(
        "mailboxes.Mailbox", on_delete=models.CASCADE, related_name="graph_subscription"
    )
    subscription_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    # Graph allows 128 characters; compared in constant time with every notification's.
    client_state = models.CharField(max_length=128, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    needs = models.CharField(max_length=20, choices=Needs.choices, blank=True, default="")
    wake = models.BooleanField(default=False)
    notified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.mailbox_id}: {self.subscription_id or 'no subscription'}"
