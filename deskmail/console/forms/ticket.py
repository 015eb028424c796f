"""The ticket view's inputs: one small form per field edited in place, merge, download."""

from __future__ import annotations

from typing import Any

from django import forms

from deskmail.services import access, people
from deskmail.services.access import Actor
from deskmail.tickets.models import Queue, Ticket, TicketType


class _FieldForm(forms.Form):
    """A form of the ticket's side panel; ids prefixed so they never clash with the composer's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "field-%s")
        super().__init__(*args, **kwargs)


class StatusForm(_FieldForm):
    status = forms.ChoiceField(label="Status", choices=Ticket.Status.choices)
    disposition = forms.ChoiceField(label="Disposition", required=False)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"status": ticket.status, "disposition": ticket.disposition})
        super().__init__(*args, **kwargs)
        choices = ticket.mailbox.settings.console.dispositions
        self.fields["disposition"].choices = [("", "—"), *((d, d) for d in choices)]  # type: ignore[attr-defined]


class PriorityForm(_FieldForm):
    priority = forms.ChoiceField(label="Priority", choices=Ticket.Priority.choices)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"priority": ticket.priority})
        super().__init__(*args, **kwargs)


class QueueForm(_FieldForm):
    queue = forms.CharField(
        label="Queue",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "queues"}),
    )

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"queue": ticket.queue.name if ticket.queue else ""})
        super().__init__(*args, **kwargs)
        self.known = list(Queue.objects.order_by("name").values_list("name", flat=True))


class TypeForm(_FieldForm):
    type = forms.TypedChoiceField(label="Type", required=False, coerce=int, empty_value=None)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"type": ticket.type_id or ""})
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            *TicketType.objects.order_by("name").values_list("pk", "name"),
        ]


class AssigneeForm(_FieldForm):
    assignee = forms.TypedChoiceField(label="Agent", required=False, coerce=int, empty_value=None)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"assignee": ticket.assignee_id or ""})
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            ("", "Nobody"),
            *((u.pk, people.display_name(u)) for u in people.team_of(ticket.mailbox_id)),
        ]


class TagsForm(_FieldForm):
    tags = forms.CharField(label="Tags (comma-separated)", required=False, max_length=2000)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        names = sorted(ticket.tags.values_list("name", flat=True)) if ticket.pk else []
        kwargs.setdefault("initial", {"tags": ", ".join(names)})
        super().__init__(*args, **kwargs)

    def names(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class ParticipantsForm(_FieldForm):
    participants = forms.CharField(
        label="Participants (one address a line)",
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"participants": "\n".join(ticket.participants)})
        super().__init__(*args, **kwargs)

    def addresses(self) -> list[str]:
        text = self.cleaned_data["participants"].replace(",", "\n").replace(";", "\n")
        return [line.strip() for line in text.splitlines() if line.strip()]


class MailboxForm(_FieldForm):
    mailbox = forms.ChoiceField(label="Mailbox")

    def __init__(self, ticket: Ticket, actor: Actor, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"mailbox": ticket.mailbox.name})
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].choices = [  # type: ignore[attr-defined]
            (name, name) for name in access.mailboxes(actor).values_list("name", flat=True)
        ]


class TitleForm(_FieldForm):
    title = forms.CharField(label="Subject", max_length=1000)

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"title": ticket.title})
        super().__init__(*args, **kwargs)


class CustomFieldForm(forms.Form):
    value = forms.CharField(label="Value", required=False, max_length=2000)


class MergeForm(forms.Form):
    target = forms.IntegerField(label="Merge into ticket number", min_value=1)


class ThreadZipForm(forms.Form):
    attachments = forms.BooleanField(label="With attachments", required=False)


class DeleteForm(forms.Form):
    confirmed = forms.BooleanField(required=True, widget=forms.HiddenInput)
