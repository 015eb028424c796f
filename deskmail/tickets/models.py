"""The ticket store: tickets, their messages, contacts, attachments, notes, tags, queues, types.

Raw messages and attachment bytes live in Django's default storage, content
addressed by SHA-256 (see `deskmail.tickets.blobs`); rows only name them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction

from deskmail.mail.subjects import normalise
from deskmail.mailboxes.models import Mailbox


class Counter(models.Model):
    """A named counter, advanced by an UPDATE so that concurrent writers queue on its row lock."""

    name = models.CharField(max_length=50, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"

    @classmethod
    def next(cls, name: str) -> int:
        """The next value; race-free on PostgreSQL (row lock) and SQLite (one writer).

        The UPDATE locks the row until the caller's transaction ends, so numbers
        are handed out in commit order and a rolled-back transaction hands its
        number back.
        """
        table = connection.ops.quote_name(cls._meta.db_table)
        sql = f"UPDATE {table} SET value = value + 1 WHERE name = %s RETURNING value"  # noqa: S608
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute(sql, [name])
            row = cursor.fetchone()
            if row is None:
                cls.objects.get_or_create(name=name)
                cursor.execute(sql, [name])
                row = cursor.fetchone()
            return int(row[0])


class Queue(models.Model):
    name = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.name


class TicketType(models.Model):
    name = models.CharField(max_length=200, unique=True)
    # The custom fields a ticket of this type carries: [{"name", "label", "kind"}].
    fields = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    address = models.EmailField(unique=True)
    name = models.CharField(max_length=300, blank=True, default="")
    organisation = models.CharField(max_length=300, blank=True, default="")
    lists = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


class Ticket(models.Model):
    class Status(models.TextChoices):
        NEW = "new"
        OPEN = "open"
        PENDING = "pending"
        RESOLVED = "resolved"
        CLOSED = "closed"

    class Priority(models.TextChoices):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        URGENT = "urgent"

    number = models.BigIntegerField(unique=True)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="tickets")
    title = models.CharField(max_length=1000, blank=True, default="")
    # The normalised title (deskmail.mail.subjects.normalise), kept in step by save().
    subject_key = models.CharField(max_length=1000, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL)
    type = models.ForeignKey(TicketType, null=True, blank=True, on_delete=models.SET_NULL)
    custom_fields = models.JSONField(default=dict, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    # Every From/To/Cc address of its messages, less the mailboxes' own addresses.
    participants = models.JSONField(default=list, blank=True)
    # Opened from a closed ticket, or by a stranger quoting this ticket's tag.
    linked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="linked_tickets"
    )
    link_reason = models.CharField(max_length=200, blank=True, default="")
    # The mailbox's identity rule match (e.g. an order number), case-folded.
    identity_key = models.CharField(max_length=500, blank=True, default="")
    # What a reply needs: To (the contact), Cc (the latest other sender), the Message-IDs.
    reply_to = models.CharField(max_length=254, blank=True, default="")
    reply_cc = models.JSONField(default=list, blank=True)
    reply_references = models.JSONField(default=list, blank=True)
    # The effective Date of its first mail: same-subject combining measures from it.
    first_mail_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    # Merged into another ticket (see TicketMerge); its messages live there now.
    class Confirmation(models.TextChoices):
        NONE = "", "confirmed or not needed"
        AWAITING = "awaiting", "awaiting confirmation"
        UNCONFIRMED = "unconfirmed", "not confirmed in time"

    # A new sender's first ticket waits, hidden from the lists, until they confirm.
    confirmation = models.CharField(
        max_length=12, choices=Confirmation.choices, blank=True, default=""
    )
    confirm_by = models.DateTimeField(null=True, blank=True)
    # The confirmation link's one-time part; emptied when the link is used.
    confirm_nonce = models.CharField(max_length=32, blank=True, default="")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_tickets"
    )
    # Snoozed: out of the open lists until then, or until the customer writes again.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snoozed_at = models.DateTimeField(null=True, blank=True)
    # The outcome picked when the ticket was closed (the mailbox's dispositions).
    disposition = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["number"]
        indexes = [
            models.Index(fields=["mailbox", "subject_key"], name="ticket_subject_key"),
            models.Index(fields=["mailbox", "identity_key"], name="ticket_identity_key"),
            models.Index(fields=["confirmation", "confirm_by"], name="ticket_confirmation"),
            # The console's lists: newest activity first, across and within mailboxes.
            models.Index(fields=["-updated_at", "-id"], name="ticket_recent"),
            models.Index(fields=["mailbox", "-updated_at", "-id"], name="ticket_mailbox_recent"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.refresh_subject_key()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "title" in update_fields:
            kwargs["update_fields"] = {*update_fields, "subject_key"}
        super().save(*args, **kwargs)

    def refresh_subject_key(self) -> None:
        """Same-subject combining compares with the title, whoever last changed it."""
        self.subject_key = normalise(self.title)[:1000]

    def tag_for(self, key: str) -> str:
        return f"[{key}#{self.number}]"

    @property
    def is_closed(self) -> bool:
        return self.status in (self.Status.RESOLVED, self.Status.CLOSED)

    def set_status(self, status: str, at: dt.datetime) -> bool:
        """Change the status and its timestamps (not saved); False when it was already so."""
        if status == self.status:
            return False
        self.status, self.status_changed_at = status, at
        if status == self.Status.RESOLVED:
            self.resolved_at = at
        elif status == self.Status.CLOSED:
            self.closed_at = at
        return True


class Message(models.Model):
    class Direction(models.TextChoices):
        IN = "in"
        OUT = "out"

    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.IN)
    # Without angle brackets. A mail without one gets "sha256-<hex>@deskmail.invalid".
    message_id = models.CharField(max_length=998, unique=True)
    synthetic_message_id = models.BooleanField(default=False)
    in_reply_to = models.CharField(max_length=998, blank=True, default="")
    references = models.JSONField(default=list, blank=True)
    subject = models.TextField(blank=True, default="")
    from_address = models.CharField(max_length=254, blank=True, default="")
    from_name = models.CharField(max_length=300, blank=True, default="")
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    date = models.DateTimeField(null=True, blank=True)
    body_text = models.TextField(blank=True, default="")
    body_html = models.TextField(null=True, blank=True)  # noqa: DJ001 - None: no HTML part
    reply_text = models.TextField(blank=True, default="")
    auto_submitted = models.BooleanField(default=False)
    bounce = models.BooleanField(default=False)
    headers = models.JSONField(default=dict, blank=True)
    raw_sha256 = models.CharField(max_length=64)
    raw_size = models.IntegerField(default=0)
    trace = models.JSONField(default=list, blank=True)
    excluded = models.BooleanField(default=False)
    excluded_reason = models.CharField(max_length=500, blank=True, default="")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            models.Index(
                fields=["mailbox", "from_address", "received_at"], name="message_sender_rate"
            ),
        ]

    def __str__(self) -> str:
        return f"<{self.message_id}>"

    @property
    def raw_name(self) -> str:
        from deskmail.tickets.blobs import raw_name

        return raw_name(self.raw_sha256)


class MessageReference(models.Model):
    """One Message-ID named by a message's In-Reply-To or References: the threading index."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reference_rows")
    ref = models.CharField(max_length=998, db_index=True)

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.ref}"


class Delivery(models.Model):
    """One way a message reached us: the mailbox, the address, the source position."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="deliveries")
    address = models.CharField(max_length=254, blank=True, default="")
    source_kind = models.CharField(max_length=20, blank=True, default="")
    source_folder = models.CharField(max_length=1000, blank=True, default="")
    source_uidvalidity = models.BigIntegerField(null=True, blank=True)
    source_uid = models.CharField(max_length=500, blank=True, default="")
    # kind/folder/uidvalidity/uid in one string; "" when the source gave no position.
    source_key = models.CharField(max_length=1600, blank=True, default="")
    # The bytes this delivery brought: a position that now holds other bytes (a
    # compacted mbox, a reused file name) is a different message, not a duplicate.
    raw_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["mailbox", "source_key", "raw_sha256"], name="delivery_position")
        ]

    def __str__(self) -> str:
        return f"{self.message_id} via {self.address or self.mailbox_id} {self.source_key}"


class Blob(models.Model):
    """Attachment bytes, stored once however many messages carry them."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256

    @property
    def name(self) -> str:
        from deskmail.tickets.blobs import blob_name

        return blob_name(self.sha256)


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="attachments")
    filename = models.CharField(max_length=500)
    content_type = models.CharField(max_length=200)
    size = models.BigIntegerField()
    inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=500, blank=True, default="")

    def __str__(self) -> str:
        return self.filename


class InternalNote(models.Model):
    class Kind(models.TextChoices):
        NOTE = "note"
        DELIVERY_FAILURE = "delivery_failure"
        # What people did to the ticket (merged, split, transferred, snoozed), in words.
        ACTIVITY = "activity"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NOTE)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The mail the note is about (the bounce for a delivery failure).
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


class ReadMark(models.Model):
    """When a person last read a ticket: mail that arrived later makes it unread for them."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="read_marks")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "ticket"], name="one_read_mark_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.ticket_id} at {self.read_at:%Y-%m-%d %H:%M}"


class Draft(models.Model):
    """What a person is writing on a ticket, saved as they type (one per kind of answer)."""

    class Kind(models.TextChoices):
        REPLY = "reply"
        NOTE = "note"
        FORWARD = "forward"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="drafts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REPLY)
    to = models.TextField(blank=True, default="")
    cc = models.TextField(blank=True, default="")
    body = models.TextField(blank=True, default="")
    # The message a forward forwards.
    message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "user", "kind"], name="one_draft_per_person_and_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} draft of {self.user_id} on {self.ticket_id}"


class TrustedSender(models.Model):
    """A sender whose mail a person lets load remote content (images) without asking."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "address"], name="trusted_sender_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} trusts {self.address}"


class TicketMerge(models.Model):
    """A merge (source into target) or a split (source's messages off into target), undoable.

    The moved rows are listed, so that undoing moves exactly those back, whatever
    arrived in either ticket since.
    """

    class Kind(models.TextChoices):
        MERGE = "merge"
        SPLIT = "split"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="merges_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="merges_in")
    messages = models.JSONField(default=list)
    notes = models.JSONField(default=list)
    outbox_items = models.JSONField(default=list)
    # The source's status before a merge closed it.
    previous_status = models.CharField(max_length=10, blank=True, default="")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id} -> {self.target_id}"


class Transfer(models.Model):
    """A ticket handed to an agent or a queue, waiting to be accepted (see services.handover)."""

    class State(models.TextChoices):
        WAITING_AGENT = "waiting_agent"
        WAITING_QUEUE = "waiting_queue"
        ACCEPTED = "accepted"
        RETURNED = "returned"
        CANCELLED = "cancelled"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="transfers")
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL)
    state = models.CharField(max_length=20, choices=State.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the current wait ends and the transfer moves on (to the queue, then back).
    due_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "due_at"], name="transfer_due")]

    def __str__(self) -> str:
        return f"transfer of {self.ticket_id} ({self.state})"
