"""Write mailboxes back as the YAML that `deskmail mailboxes load` reads.

The output loads back unchanged. Secrets never appear: only the names of the
variables that hold them (`password_env`). A switched-off setting (None where
the default is None) and an empty list are left out; a setting switched off
against an enabled default (`sender_rate_limit: null`) is written as null, or
it would come back on when the file is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from deskmail.mailboxes.models import Mailbox

HEADER = (
    "# deskmail mailboxes. Secrets are not included: before loading this file, set the\n"
    "# environment variables named by password_env (or load it on a terminal to be asked).\n"
)


class ExportError(Exception):
    """A stored configuration no longer passes the schema, so it cannot be exported faithfully."""


def export_yaml(mailboxes: Iterable[Mailbox]) -> str:
    documents = [mailbox_document(mailbox) for mailbox in mailboxes]
    body = yaml.safe_dump(
        {"mailboxes": documents},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return HEADER + body


def mailbox_document(mailbox: Mailbox) -> dict[str, Any]:
    """One mailbox as YAML-ready data, in the schema's field order."""
    try:
        settings = mailbox.settings
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ExportError(
            f"mailbox {mailbox.name}: the stored configuration is not valid: {problems}"
        ) from exc
    document = _prune(settings)
    # The live status, unless the system set it to failed: then what was configured.
    if mailbox.status != Mailbox.Status.FAILED:
        document["status"] = mailbox.status
    return document


def _prune(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        default = field.get_default(call_default_factory=True)
        if value is None and default is None:
            continue
        if value == [] and default == []:
            continue
        out[field.alias or name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _prune(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
