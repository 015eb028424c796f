"""Switching the email channel off and on, for admins."""

from __future__ import annotations

from django import forms

from deskmail.services.channel import MAX_REASON


class ChannelForm(forms.Form):
    on = forms.TypedChoiceField(
        choices=[("true", "on"), ("false", "off")], coerce=lambda value: value == "true"
    )
    reason = forms.CharField(
        label="Reason (shown on every console page)", required=False, max_length=MAX_REASON
    )
