"""What routing keeps between tickets: agents' availability and round-robin positions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Availability(models.Model):
    """Whether an agent takes new tickets from distribution; no row means available."""

    class State(models.TextChoices):
        AVAILABLE = "available"
        PAUSED = "paused"
        LOGGED_OUT = "logged_out"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.AVAILABLE)
    # Why paused (a break, a mandatory disposition), shown beside the state.
    reason = models.CharField(max_length=200, blank=True, default="")
    changed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "availabilities"

    def __str__(self) -> str:
        return f"{self.user_id} {self.state}"


class RoundRobin(models.Model):
    """The agent who last got a ticket of this mailbox's queue by round robin."""

    mailbox = models.ForeignKey("mailboxes.Mailbox", on_delete=models.CASCADE, related_name="+")
    # The queue's name ("" for tickets without one): a queue renamed starts afresh.
    queue = models.CharField(max_length=200, blank=True, default="")
    # The agent's user id (the next one in id order comes next); 0 before the first.
    last_user_pk = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "queue"], name="one_round_robin_per_queue")
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id}/{self.queue}: {self.last_user_pk}"
