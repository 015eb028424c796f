"""The outbox (mail to send, written in the transaction that decided to send it),
the mailbox templates and the canned answers.

An outbox row fixes its Message-ID when it is written (see `tokens`), so a mail
sent again after a crash is recognisably the same mail. The sender claims a
row with a conditional UPDATE (pending -> sending) before it talks SMTP, and
records the outcome afterwards; see `deskmail.outbound.send` for the states.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from deskmail.mailboxes.models import Mailbox


class OutboxItem(models.Model):
    class Kind(models.TextChoices):
        AUTO_ACK = "auto_ack"
        REPLY = "reply"
        # A public comment from an agent, sent as the "case response".
        NOTE = "note"
        FORWARD = "forward"
        # An automatic answer from the mailbox's routing or triggers (a template).
        AUTO_REPLY = "auto_reply"
        # An automatic answer to mail that opened no ticket (the mailbox takes no new
        # tickets): the only kind without a ticket.
        NOTICE = "notice"
        # Asks a new sender to confirm they are a person (reply, or open the link).
        CONFIRMATION = "confirmation"
        # A task for a colleague or an outside person (deskmail.tasks), off the customer's thread.
        TASK = "task"
        # A template to an agent about the ticket (a trigger's `notify_agents`), off the
        # customer's thread; the agent's answer to it becomes an internal note.
        AGENT_NOTICE = "agent_notice"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        # Not sent on purpose (an acknowledgement the rules stopped); the reason is in last_error.
        SKIPPED = "skipped"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Empty only for a notice, which answers mail that is on no ticket.
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outbox_items",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The sending mailbox; empty means the ticket's own mailbox.
    mailbox = models.ForeignKey(
        "mailboxes.Mailbox", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The outgoing mail as stored on the ticket (direction "out"); an acknowledgement
    # queued by the pipeline gets it when it is composed, just before sending.
    outgoing = models.OneToOneField(
        "tickets.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="outbox_item",
    )
    # Fixed when the row is written, never changed: without angle brackets.
    message_id = models.CharField(max_length=998, unique=True, null=True, blank=True)
    # The main recipient (To), for the acknowledgement rules and the listing.
    recipient = models.CharField(max_length=254, blank=True, default="")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Undo send: the row is not taken before this (null: at once); see send._claim.
    send_after = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # The server's own words for the last failure (or why the mail was skipped).
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    # Recipients the server refused while it accepted the others.
    refused = models.JSONField(default=dict, blank=True)
    saved_to_sent = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["kind", "recipient", "created_at"], name="outbox_ack_rate"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.ticket_id} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.message_id:
            self.message_id = self._new_message_id()
        super().save(*args, **kwargs)

    def _new_message_id(self) -> str:
        from deskmail.outbound.tokens import new_message_id

        number = self.ticket.number if self.ticket is not None else 0
        return new_message_id(number, self.sending_mailbox.address)

    @property
    def sending_mailbox(self) -> Mailbox:
        """The mailbox it goes out from: its own, else its ticket's."""
        if self.mailbox is not None:
            return self.mailbox
        assert self.ticket is not None, "an outbox row without a ticket names its mailbox"
        return self.ticket.mailbox


class MailboxTemplate(models.Model):
    """A mailbox's own version of one of the default templates (Django template language)."""

    class Kind(models.TextChoices):
        # The layout around an agent's reply: font, logo, signature.
        REPLY = "reply"
        AUTO_ACK = "auto_ack"
        # Sent when an agent adds a public comment.
        CASE_RESPONSE = "case_response"
        FORWARD = "forward"

    mailbox = models.ForeignKey(
        "mailboxes.Mailbox", on_delete=models.CASCADE, related_name="templates"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Empty: the default subject for this kind.
    subject = models.CharField(max_length=500, blank=True, default="")
    html = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "kind"], name="one_template_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} template of {self.mailbox_id}"


class CannedAnswer(models.Model):
    """A prepared answer with variables; global when it has no mailbox."""

    mailbox = models.ForeignKey(
        "mailboxes.Mailbox",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_answers",
    )
    name = models.CharField(max_length=200)
    # Django template language over the same variables as the templates.
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="canned_name_per_mailbox")
        ]

    def __str__(self) -> str:
        return self.name
