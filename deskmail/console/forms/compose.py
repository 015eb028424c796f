"""The composer's inputs: reply, note, forward, a new outbound ticket, drafts."""

from __future__ import annotations

from typing import Any

from django import forms

from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.compose import OutgoingAttachment
from deskmail.tickets.models import Draft, Ticket

AFTER_SEND = [
    ("", "Keep the status"),
    ("pending", "Pending (waiting for the customer)"),
    ("open", "Open"),
    ("resolved", "Resolved"),
    ("closed", "Closed"),
]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


def _addresses(text: str) -> list[str]:
    return [a.strip() for a in text.replace(";", ",").replace("\n", ",").split(",") if a.strip()]


class _WithFiles(forms.Form):
    attachments = MultipleFileField(label="Attach files", required=False)

    prefix_id = "id_%s"

    def __init__(self, *args: Any, mailbox: Mailbox | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", self.prefix_id)
        super().__init__(*args, **kwargs)
        self.sender = mailbox

    def clean_attachments(self) -> list[Any]:
        files: list[Any] = self.cleaned_data.get("attachments") or []
        if self.sender is None or not files:
            return files
        settings = self.sender.settings
        most = settings.replies.max_attachments
        if len(files) > most:
            raise forms.ValidationError(
                f"{len(files)} files, but mailbox {self.sender.name} sends at most {most} "
                "per mail; remove some or send them in a second mail."
            )
        limit = int(settings.console.max_upload_mb * 1024 * 1024)
        total = sum(f.size or 0 for f in files)
        if total > limit:
            raise forms.ValidationError(
                f"The files come to {total / 1024 / 1024:.1f} MB, but mailbox "
                f"{self.sender.name} sends at most {settings.console.max_upload_mb:g} MB per mail."
            )
        return files

    def outgoing(self) -> list[OutgoingAttachment]:
        return [
            OutgoingAttachment(
                f.name or "attachment",
                f.content_type or "application/octet-stream",
                f.read(),
            )
            for f in self.cleaned_data.get("attachments") or []
        ]


class ReplyForm(_WithFiles):
    prefix_id = "reply-%s"

    to = forms.CharField(label="To", max_length=5000)
    cc = forms.CharField(label="Cc", required=False, max_length=5000)
    body = forms.CharField(
        label="Reply", max_length=200_000, widget=forms.Textarea(attrs={"rows": 8})
    )
    status = forms.ChoiceField(label="Then set the status", required=False, choices=AFTER_SEND)
    opened_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def to_list(self) -> list[str]:
        return _addresses(self.cleaned_data["to"])

    def cc_list(self) -> list[str]:
        return _addresses(self.cleaned_data.get("cc") or "")


class NoteForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "note-%s")
        super().__init__(*args, **kwargs)

    body = forms.CharField(
        label="Internal note", max_length=100_000, widget=forms.Textarea(attrs={"rows": 5})
    )


class ForwardForm(_WithFiles):
    prefix_id = "forward-%s"

    message = forms.TypedChoiceField(label="Message to forward", coerce=int)
    to = forms.CharField(label="Forward to", max_length=5000)
    cc = forms.CharField(label="Cc", required=False, max_length=5000)
    body = forms.CharField(
        label="Message for the recipient",
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    include_previous = forms.BooleanField(label="Include the previous message", required=False)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["message"].choices = [  # type: ignore[attr-defined]
            (m.pk, f"{m.received_at:%Y-%m-%d %H:%M} {m.from_address}: {m.subject[:60]}")
            for m in ticket.messages.filter(excluded=False).order_by("-received_at", "-id")
        ]

    def to_list(self) -> list[str]:
        return _addresses(self.cleaned_data["to"])

    def cc_list(self) -> list[str]:
        return _addresses(self.cleaned_data.get("cc") or "")


class DraftForm(forms.Form):
    kind = forms.ChoiceField(choices=Draft.Kind.choices)
    to = forms.CharField(required=False, max_length=5000)
    cc = forms.CharField(required=False, max_length=5000)
    body = forms.CharField(required=False, max_length=200_000, strip=False)
    message = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["message"].choices = [  # type: ignore[attr-defined]
            ("", ""),
            *((pk, pk) for pk in ticket.messages.values_list("pk", flat=True)),
        ]


class CannedForm(forms.Form):
    canned = forms.TypedChoiceField(label="Canned answer", coerce=int)

    def __init__(self, answers: list[Any], *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "reply-%s")
        super().__init__(*args, **kwargs)
        self.fields["canned"].choices = [  # type: ignore[attr-defined]
            (a.pk, f"{a.name}{'' if a.mailbox_id else ' (all mailboxes)'}") for a in answers
        ]


class NewTicketForm(_WithFiles):
    prefix_id = "new-%s"

    mailbox = forms.ChoiceField(label="Send from")
    to = forms.CharField(label="To", max_length=5000)
    cc = forms.CharField(label="Cc", required=False, max_length=5000)
    subject = forms.CharField(label="Subject", max_length=1000)
    body = forms.CharField(
        label="Message", max_length=200_000, widget=forms.Textarea(attrs={"rows": 10})
    )

    def __init__(self, mailboxes: list[Mailbox], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].choices = [  # type: ignore[attr-defined]
            (m.name, f"{m.name} <{m.address}>") for m in mailboxes
        ]
        chosen = self.data.get("mailbox") if self.is_bound else None
        self.sender = {m.name: m for m in mailboxes}.get(str(chosen or ""))

    def to_list(self) -> list[str]:
        return _addresses(self.cleaned_data["to"])

    def cc_list(self) -> list[str]:
        return _addresses(self.cleaned_data.get("cc") or "")
