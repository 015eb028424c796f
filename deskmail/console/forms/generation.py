"""The admin's form for rewriting suggestions by a chat completions server."""

from __future__ import annotations

from django import forms

from deskmail.services.generation import MAX_TIMEOUT


class GenerationForm(forms.Form):
    enabled = forms.BooleanField(label="Offer “Rewrite for this customer”", required=False)
    base_url = forms.CharField(
        label="Server's base URL (OpenAI-compatible, e.g. http://127.0.0.1:11434 for Ollama)",
        max_length=500,
        required=False,
    )
    model = forms.CharField(label="Model", max_length=200, required=False)
    api_key = forms.CharField(
        label="API key (empty: keep the stored one)",
        max_length=1000,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    remove_api_key = forms.BooleanField(label="Remove the stored API key", required=False)
    timeout_seconds = forms.FloatField(
        label="Timeout (seconds)", min_value=1, max_value=MAX_TIMEOUT
    )
