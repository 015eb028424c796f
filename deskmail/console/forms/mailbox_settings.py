"""A mailbox's settings beyond its connection, as form fields generated from the schema.

Each section is a model of the YAML schema (`deskmail.mailboxes.config`); its
plain fields (yes/no, numbers, text, a choice, a list of words) become form
fields with the schema's defaults and choices, so a new setting appears here
by itself and no rule is written twice: the values go back through the schema,
whose errors come back to the field they are about. Nested settings (rate
limits, identity rules, field mappings) stay in YAML.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from django import forms
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from deskmail.mailboxes.config import (
    FiltersConfig,
    InboundConfig,
    MailboxConfig,
    RepliesConfig,
    ThreadingConfig,
    TicketsConfig,
)

# (title, the schema's section, its model, the fields shown; None: every plain field)
SECTIONS: list[tuple[str, str, type[BaseModel], list[str] | None]] = [
    (
        "Reading",
        "inbound",
        InboundConfig,
        [
            "after_fetch",
            "idle",
            "max_tries",
            "cool_off_minutes",
            "skip_times",
            "header_filter",
            "duplicate_check",
            "max_sessions",
            "verify_certificate",
        ],
    ),
    ("Filters", "filters", FiltersConfig, None),
    ("Tickets", "tickets", TicketsConfig, None),
    ("Threading", "threading", ThreadingConfig, None),
    ("Replies", "replies", RepliesConfig, None),
]
SEPARATOR = "__"


def _label(name: str) -> str:
    words = name.replace("_s", " (seconds)") if name.endswith("_s") else name
    return words.replace("_", " ").capitalize()


def _plain(annotation: Any) -> tuple[Any, bool]:
    """The annotation without None, and whether None is allowed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        return annotation, True
    return annotation, False


def form_field(name: str, info: FieldInfo) -> forms.Field | None:
    """The form field for one setting of the schema, or None for a nested one."""
    annotation, _optional = _plain(info.annotation)
    default = info.get_default(call_default_factory=True)
    label = _label(name)
    if isinstance(default, (int, float, str)) and not isinstance(default, bool):
        label += f" (empty: {default})" if default != "" else ""
    if annotation is bool:
        return forms.BooleanField(label=_label(name), required=False)
    if annotation is int:
        return forms.IntegerField(label=label, required=False)
    if annotation is float:
        return forms.FloatField(label=label, required=False)
    if typing.get_origin(annotation) is Literal:
        choices = [(str(v), str(v)) for v in typing.get_args(annotation)]
        return forms.ChoiceField(label=_label(name), choices=choices)
    if annotation is str:
        return forms.CharField(label=label, required=False, max_length=2000)
    if typing.get_origin(annotation) is list and typing.get_args(annotation) == (str,):
        return forms.CharField(
            label=f"{_label(name)} (one a line)",
            required=False,
            widget=forms.Textarea(attrs={"rows": 3}),
        )
    return None  # a nested model, a list of them, a date: in YAML


class SettingsForm(forms.Form):
    """Every section's plain settings; field names are `section__setting`."""

    def __init__(self, *args: Any, config: MailboxConfig | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "setting-%s")
        super().__init__(*args, **kwargs)
        self.groups: list[tuple[str, list[str]]] = []
        for title, section, model, names in SECTIONS:
            shown = []
            for name, info in model.model_fields.items():
                if names is not None and name not in names:
                    continue
                field = form_field(name, info)
                if field is None:
                    continue
                key = f"{section}{SEPARATOR}{name}"
                self.fields[key] = field
                shown.append(key)
                if config is not None and not self.is_bound:
                    self.initial[key] = _initial(getattr(config, section), name, info)
            self.groups.append((title, shown))

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[k] for k in keys]) for title, keys in self.groups]

    def changes(self) -> dict[str, dict[str, Any]]:
        """The sections' values, to merge into the stored configuration (None: the default)."""
        out: dict[str, dict[str, Any]] = {}
        for key, value in self.cleaned_data.items():
            section, name = key.split(SEPARATOR, 1)
            if isinstance(self.fields[key].widget, forms.Textarea):
                value = [line.strip() for line in str(value or "").splitlines() if line.strip()]
            elif value == "":
                value = None
            out.setdefault(section, {})[name] = value
        return out

    def take_problems(self, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Put the schema's errors about these settings on their fields; return the others."""
        rest = []
        for path, message in problems:
            key = path.replace(".", SEPARATOR, 1)
            if key in self.fields:
                self.add_error(key, message)
            else:
                rest.append((path, message))
        return rest


def _initial(section: Any, name: str, info: FieldInfo) -> Any:
    value = getattr(section, name, None) if section is not None else None
    if section is None:
        value = info.get_default(call_default_factory=True)
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return value
