"""Handing over: transfer, snooze, and a mailbox's notification settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from deskmail.services import people
from deskmail.tickets.models import Queue, Ticket


class TransferForm(forms.Form):
    to_user = forms.TypedChoiceField(label="To agent", required=False, coerce=int, empty_value=None)
    to_queue = forms.CharField(
        label="To queue",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "queues"}),
    )

    def __init__(self, ticket: Ticket, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_user"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            *((u.pk, people.display_name(u)) for u in people.team_of(ticket.mailbox_id)),
        ]
        self.queues = list(Queue.objects.order_by("name").values_list("name", flat=True))


SNOOZE_CHOICES = [
    ("1h", "For an hour"),
    ("tomorrow", "Until tomorrow, 09:00"),
    ("week", "For a week"),
    ("at", "Until the time below"),
]


class SnoozeForm(forms.Form):
    when = forms.ChoiceField(
        label="Snooze", choices=SNOOZE_CHOICES, initial="tomorrow", widget=forms.RadioSelect
    )
    until = forms.DateTimeField(
        label="Until (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def until_time(self, now: dt.datetime | None = None) -> dt.datetime:
        now = now or timezone.now()
        choice = self.cleaned_data["when"]
        if choice == "1h":
            return now + dt.timedelta(hours=1)
        if choice == "week":
            return now + dt.timedelta(days=7)
        if choice == "tomorrow":
            tomorrow = (now + dt.timedelta(days=1)).date()
            return dt.datetime.combine(tomorrow, dt.time(9), tzinfo=now.tzinfo)
        until: dt.datetime | None = self.cleaned_data.get("until")
        if until is None:
            raise forms.ValidationError("Give the time to snooze until.")
        return until if until.tzinfo else until.replace(tzinfo=dt.UTC)


class NotificationForm(forms.Form):
    notify_sound = forms.BooleanField(label="Play a sound", required=False)
    notify_shake = forms.BooleanField(label="Shake the banner", required=False)
    notify_template = forms.CharField(
        label="Notification text ({source}, {sender}, {queue}, {subject})", max_length=500
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        prefix = kwargs.get("prefix")
        kwargs.setdefault("auto_id", f"{prefix}-%s" if prefix else "id_%s")
        super().__init__(*args, **kwargs)
