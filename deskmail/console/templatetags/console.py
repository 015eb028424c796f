"""Small template helpers for the console."""

from __future__ import annotations

from typing import Any

from django import forms, template

register = template.Library()


@register.filter
def field_of(form: forms.Form, name: str) -> Any:
    """form[name] in a template, where the name is a variable."""
    return form[name]
