"""People and teams, for admins."""

from __future__ import annotations

from typing import Any

from django import forms

from deskmail.mailboxes.models import Membership
from deskmail.services.access import Role


class PersonForm(forms.Form):
    email = forms.EmailField(label="Email")
    role = forms.ChoiceField(label="Role", choices=[(r.value, r.value) for r in Role])
    mailboxes = forms.MultipleChoiceField(
        label="Teams", required=False, widget=forms.CheckboxSelectMultiple
    )
    password = forms.CharField(
        label="Password (empty: the person cannot sign in yet)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, mailboxes: list[str], *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "person-%s")
        super().__init__(*args, **kwargs)
        self.fields["mailboxes"].choices = [(m, m) for m in mailboxes]  # type: ignore[attr-defined]


class TeamForm(forms.Form):
    mailbox = forms.ChoiceField(label="Mailbox")
    email = forms.EmailField(label="Person's email")
    role = forms.ChoiceField(label="As", choices=Membership.Role.choices)
    remove = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, mailboxes: list[str], *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "team-%s")
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].choices = [(m, m) for m in mailboxes]  # type: ignore[attr-defined]
