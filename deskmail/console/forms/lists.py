"""The ticket list's inputs: filters, advanced search conditions, and bulk actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from deskmail.services import access, people
from deskmail.services.access import Actor
from deskmail.services.queries import VIEWS, TicketFilter
from deskmail.services.search import FIELDS, OPERATOR_LABELS, Condition
from deskmail.tickets.models import Queue, Ticket

VIEW_LABELS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "open": "All open",
    "pending": "Pending",
    "snoozed": "Snoozed",
    "closed": "Closed",
    "all": "Everything",
    "awaiting": "Awaiting confirmation",
}
DEFAULT_VIEW = "open"


def _people_choices(actor: Actor) -> list[tuple[str, str]]:
    return [(str(u.pk), people.display_name(u)) for u in people.colleagues(actor)]


class ListFilterForm(forms.Form):
    """The filters of a list; read from the query string, so a list is a link."""

    view = forms.ChoiceField(
        choices=[(v, VIEW_LABELS[v]) for v in VIEWS], required=False, initial=DEFAULT_VIEW
    )
    q = forms.CharField(label="Full text", required=False, max_length=500)
    read = forms.ChoiceField(
        label="Read",
        required=False,
        choices=[("", "Read and unread"), ("unread", "Unread only"), ("read", "Read only")],
    )
    status = forms.MultipleChoiceField(
        label="Status",
        required=False,
        choices=Ticket.Status.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    priority = forms.MultipleChoiceField(
        label="Priority",
        required=False,
        choices=Ticket.Priority.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    mailbox = forms.MultipleChoiceField(
        label="Mailbox", required=False, widget=forms.CheckboxSelectMultiple
    )
    queue = forms.MultipleChoiceField(
        label="Queue", required=False, widget=forms.CheckboxSelectMultiple
    )
    assignee = forms.MultipleChoiceField(
        label="Agent", required=False, widget=forms.CheckboxSelectMultiple
    )
    tags = forms.CharField(
        label="Tags (all of, comma-separated)",
        required=False,
        max_length=500,
    )
    created_from = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label="Created until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    match = forms.ChoiceField(
        label="Conditions",
        required=False,
        choices=[("all", "All conditions must hold"), ("any", "Any one condition is enough")],
    )
    cursor = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, actor: Actor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        boxes = list(access.mailboxes(actor).values_list("name", flat=True))
        self.fields["mailbox"].choices = [(name, name) for name in boxes]  # type: ignore[attr-defined]
        self.fields["queue"].choices = [  # type: ignore[attr-defined]
            (name, name) for name in Queue.objects.order_by("name").values_list("name", flat=True)
        ]
        self.fields["assignee"].choices = _people_choices(actor)  # type: ignore[attr-defined]

    def to_filter(self, conditions: tuple[Condition, ...] = ()) -> TicketFilter:
        data = self.cleaned_data
        from_day, to_day = data.get("created_from"), data.get("created_to")
        tz = timezone.get_current_timezone()
        return TicketFilter(
            view=data.get("view") or DEFAULT_VIEW,
            status=list(data.get("status") or []),
            mailbox=list(data.get("mailbox") or []),
            queue=list(data.get("queue") or []),
            priority=list(data.get("priority") or []),
            assignee=[int(pk) for pk in data.get("assignee") or []],
            tags=[t.strip() for t in (data.get("tags") or "").split(",") if t.strip()],
            created_from=dt.datetime.combine(from_day, dt.time(), tzinfo=tz) if from_day else None,
            created_to=(
                dt.datetime.combine(to_day, dt.time(), tzinfo=tz) + dt.timedelta(days=1)
                if to_day
                else None
            ),
            read=data.get("read") or "",
            search=data.get("q") or "",
            conditions=conditions,
            match=data.get("match") or "all",
        )

    @property
    def narrowed(self) -> bool:
        """Whether any filter beyond the view is set (the panel then starts open)."""
        if not self.is_bound or not hasattr(self, "cleaned_data"):
            return False
        skip = {"view", "cursor", "q", "match"}
        return any(v for k, v in self.cleaned_data.items() if k not in skip)


class ConditionForm(forms.Form):
    """One condition of an advanced search."""

    field = forms.ChoiceField(label="Field", choices=[(f.name, f.label) for f in FIELDS.values()])
    operator = forms.ChoiceField(label="Operator", choices=list(OPERATOR_LABELS.items()))
    value = forms.CharField(label="Value", required=False, max_length=500)
    enabled = forms.BooleanField(label="Use", required=False, initial=True)

    def condition(self) -> Condition:
        data = self.cleaned_data
        return Condition(data["field"], data["operator"], data["value"], data["enabled"])


ConditionFormSet = forms.formset_factory(ConditionForm, extra=0, max_num=20, absolute_max=20)


class BulkForm(forms.Form):
    """An action on the selected tickets."""

    ACTIONS = [
        ("assign", "Assign to"),
        ("status", "Set status"),
        ("tag", "Add tag"),
        ("delete", "Delete"),
    ]
    tickets = forms.TypedMultipleChoiceField(
        label="Tickets", coerce=int, widget=forms.MultipleHiddenInput
    )
    action = forms.ChoiceField(label="Action", choices=ACTIONS)
    assignee = forms.ChoiceField(label="Agent", required=False)
    status = forms.ChoiceField(
        label="New status", required=False, choices=[("", "—"), *Ticket.Status.choices]
    )
    tag = forms.CharField(label="Tag", required=False, max_length=100)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    back = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(self, actor: Actor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        numbers = (self.data.getlist("tickets") if hasattr(self.data, "getlist") else []) or []
        self.fields["tickets"].choices = [(n, n) for n in numbers]  # type: ignore[attr-defined]
        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            ("none", "Nobody"),
            *_people_choices(actor),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "assign" and not data.get("assignee"):
            self.add_error("assignee", "Pick the agent to assign to (or Nobody).")
        if action == "status" and not data.get("status"):
            self.add_error("status", "Pick the new status.")
        if action == "tag" and not (data.get("tag") or "").strip():
            self.add_error("tag", "Type the tag to add.")
        return data


class ExportForm(forms.Form):
    tickets = forms.TypedMultipleChoiceField(
        label="Tickets", coerce=int, widget=forms.MultipleHiddenInput
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        numbers = (self.data.getlist("tickets") if hasattr(self.data, "getlist") else []) or []
        self.fields["tickets"].choices = [(n, n) for n in numbers]  # type: ignore[attr-defined]
