"""A task on a ticket: to whom, what, and whether the customer's message goes with it."""

from __future__ import annotations

from django import forms

from deskmail.services.tasks import INSTRUCTIONS_MAX, TITLE_MAX


class TaskForm(forms.Form):
    to = forms.CharField(label="To (a colleague's or any address)", max_length=320, strip=True)
    title = forms.CharField(label="Task", max_length=TITLE_MAX, strip=True)
    instructions = forms.CharField(
        label="Instructions",
        required=False,
        max_length=INSTRUCTIONS_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    include_customer_message = forms.BooleanField(
        label="Include the customer's latest message", required=False
    )


class TaskStatusForm(forms.Form):
    status = forms.ChoiceField(choices=[("open", "Open"), ("done", "Done")])
