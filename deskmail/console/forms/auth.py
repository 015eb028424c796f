"""Signing in."""

from __future__ import annotations

from django import forms


class SignInForm(forms.Form):
    login = forms.CharField(
        label="Email or user name",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
