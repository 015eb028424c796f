"""The editor of a mailbox's routing and triggers, and the email to try them on."""

from __future__ import annotations

from django import forms

from deskmail.services.routing_rules import MAX_TRIAL_BYTES


class RoutingForm(forms.Form):
    routing = forms.CharField(
        label="Routing and triggers (YAML)",
        required=False,
        max_length=200_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "code"}),
    )
    email = forms.CharField(
        label="An email to try them on (paste its source)",
        required=False,
        max_length=MAX_TRIAL_BYTES,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
    )
    eml = forms.FileField(label="or choose an .eml file", required=False)

    def trial_bytes(self) -> bytes:
        """The email to try: the chosen file, else the pasted source."""
        upload = self.cleaned_data.get("eml")
        if upload is not None:
            data: bytes = upload.read(MAX_TRIAL_BYTES + 1)
            return data
        pasted: str = self.cleaned_data.get("email") or ""
        return pasted.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape")
