"""The outbox: mail to send, written in the transaction that decided to send it."""

from __future__ import annotations

from django.db import models


class OutboxItem(models.Model):
    class Kind(models.TextChoices):
        AUTO_ACK = "auto_ack"
        REPLY = "reply"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="outbox_items"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} for {self.ticket_id} ({self.status})"
