"""One row per thing that happened, written in the transaction that made it happen.

The console's live updates and the webhooks both read this log after a cursor
(the last id they saw), so neither can miss an event or see one that was
rolled back. Rows carry the mailbox they belong to, so every reader can keep
to the mailboxes its person may see.
"""

from __future__ import annotations

from django.db import models


class Event(models.Model):
    class Kind(models.TextChoices):
        TICKET_CREATED = "ticket.created"
        TICKET_UPDATED = "ticket.updated"
        MESSAGE_RECEIVED = "message.received"
        MESSAGE_SENT = "message.sent"
        MESSAGE_FAILED = "message.failed"
        NOTE_CREATED = "note.created"
        MAILBOX_FAILED = "mailbox.failed"
        MAILBOX_RECOVERED = "mailbox.recovered"
        # A mailbox's OAuth2 sign-in ends soon (a known provider limit): reauthorize it.
        MAILBOX_SIGN_IN_ENDING = "mailbox.sign_in_ending"
        # The email channel as a whole was switched off or on (no mailbox: it is all of them).
        CHANNEL_SWITCHED = "channel.switched"
        # A trigger whose actions say `webhook: true` matched on a ticket.
        TRIGGER_MATCHED = "trigger.matched"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    # Plain ids, not foreign keys: the log outlives a deleted ticket or mailbox.
    mailbox_id = models.BigIntegerField(null=True, blank=True)
    ticket_id = models.BigIntegerField(null=True, blank=True)
    ticket_number = models.BigIntegerField(null=True, blank=True)
    # What changed, in the shape the webhooks send (ids, numbers, fields, words).
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["mailbox_id", "id"], name="event_mailbox_cursor")]

    def __str__(self) -> str:
        return f"{self.id} {self.kind} #{self.ticket_number or '-'}"
