"""A task on a ticket, given by email to a colleague or an outside person, and its history.

The task mail carries a signed task token as its Message-ID (`dm.K<task id>...`, see
`deskmail.mail.tokens`); a reply to it is recorded here, as an entry of the task's
history, and never joins the customer's thread.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Task(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        DONE = "done"

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=500)
    instructions = models.TextField(blank=True, default="")
    # Whom the task was mailed to: a team member's address or any outside address.
    assignee_address = models.CharField(max_length=254)
    # The person behind the address, when it is one of ours.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # The task mail's Message-ID (without angle brackets) and its outbox row.
    message_id = models.CharField(max_length=998, unique=True, null=True, blank=True)
    outbox_item = models.OneToOneField(
        "outbound.OutboxItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A reply came that nobody has looked at since (cleared by "seen", done or reopen).
    new_reply = models.BooleanField(default=False)

    class Meta:
        ordering = ["ticket", "id"]

    def __str__(self) -> str:
        return f"task {self.pk} of ticket {self.ticket_id}: {self.title}"


class TaskEntry(models.Model):
    """One thing in a task's history: the mail sent, a reply, done, reopened."""

    class Kind(models.TextChoices):
        SENT = "sent"
        REPLY = "reply"
        DONE = "done"
        REOPENED = "reopened"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The agent who did it (sent, done, reopened); empty for a reply.
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A reply: who wrote, their new text, and the Message-ID of the stored mail.
    sender = models.CharField(max_length=254, blank=True, default="")
    sender_name = models.CharField(max_length=300, blank=True, default="")
    text = models.TextField(blank=True, default="")
    message_id = models.CharField(max_length=998, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on task {self.task_id}"
