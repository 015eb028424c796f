"""The suggestion index (pairs and their words), the suggestions shown with feedback, and
the optional rewriting of one by a language model (its settings and its log)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from deskmail.core.crypto import EncryptedTextField


class Pair(models.Model):
    """A question and the answer that settled it: a resolved ticket's, or a canned answer."""

    # The mailbox whose tickets it came from; null for a global canned answer.
    mailbox = models.ForeignKey(
        "mailboxes.Mailbox", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    ticket = models.OneToOneField(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suggestion_pair",
    )
    canned = models.OneToOneField(
        "outbound.CannedAnswer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suggestion_pair",
    )
    question = models.TextField(blank=True, default="")
    answer = models.TextField()
    # How many ranking words the question has (BM25's document length).
    length = models.IntegerField(default=0)
    # The question's sentence vector (384 little-endian float32, unit length); null when
    # the sentence model was not installed at indexing (`deskmail suggestions reindex`).
    vector = models.BinaryField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ticket__isnull=False, canned__isnull=True)
                | models.Q(ticket__isnull=True, canned__isnull=False),
                name="suggest_pair_one_source",
            )
        ]

    def __str__(self) -> str:
        return f"pair {self.pk} ({'canned' if self.canned_id else 'ticket'})"


class Term(models.Model):
    """One word of a pair's question and how often it occurs: the inverted index."""

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="terms")
    term = models.CharField(max_length=64)
    count = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["term", "pair"], name="suggest_term_lookup")]

    def __str__(self) -> str:
        return f"{self.term}×{self.count}"


class Suggestion(models.Model):
    """An answer suggested to one person for a ticket's latest customer message.

    Keyed on that message: once a newer one arrives, these are never shown again.
    The text is kept as shown, so feedback still reads right after the index changes.
    """

    class Vote(models.TextChoices):
        NONE = ""
        UP = "up"
        DOWN = "down"

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("tickets.Message", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    pair = models.ForeignKey(
        Pair, null=True, blank=True, on_delete=models.SET_NULL, related_name="suggestions"
    )
    rank = models.IntegerField()
    score = models.FloatField()
    text = models.TextField()
    vote = models.CharField(max_length=4, choices=Vote.choices, blank=True, default="")
    inserted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rank", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "message", "user", "rank"], name="one_suggestion_per_rank"
            )
        ]

    def __str__(self) -> str:
        return f"suggestion {self.rank} on {self.ticket_id}"


class GenerationSettings(models.Model):
    """The optional rewriting of a suggestion by a language model: one row for the whole
    installation (pk 1), set by an admin. Off until switched on."""

    enabled = models.BooleanField(default=False)
    # An OpenAI-compatible server: `{base_url}/v1/chat/completions` (e.g. a local Ollama).
    base_url = models.CharField(max_length=500, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    # Sent as `Authorization: Bearer ...`; empty for a server that wants none.
    api_key = EncryptedTextField(blank=True, default="")
    timeout_seconds = models.FloatField(default=30)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "generation settings"
        verbose_name_plural = "generation settings"

    def __str__(self) -> str:
        return f"generation {'on' if self.enabled else 'off'}"


class Rewrite(models.Model):
    """One request to rewrite a suggestion for a ticket's customer: what was sent and what
    came back (or the error), kept for review. Nothing here is ever sent to the customer."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    # The customer message it answers (the latest when it was asked).
    message = models.ForeignKey("tickets.Message", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    suggestion = models.ForeignKey(
        Suggestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="rewrites"
    )
    # The chat messages sent, as sent: [{"role": ..., "content": ...}].
    prompt = models.JSONField(default=list)
    answer = models.TextField(blank=True, default="")
    model = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=500)
    duration_ms = models.IntegerField(default=0)
    # Why there is no answer, in words for the agent; empty when it worked.
    error = models.TextField(blank=True, default="")
    inserted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="suggest_rewrite_ticket")]

    def __str__(self) -> str:
        return f"rewrite {self.pk} on {self.ticket_id}"
