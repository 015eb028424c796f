"""Create or update mailboxes from a YAML file, all or nothing.

Everything is checked before anything is written: the schema (with the line
and field of each error), duplicate names, keys and addresses (within the file
and against the other mailboxes in the database) and the secrets named by
`password_env`. Only a file with no error at all is applied, in one
transaction. Secrets are read from the environment (or asked for on a
terminal), stored encrypted and never printed or logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from django.db import IntegrityError, transaction
from pydantic import ValidationError

from deskmail.mailboxes.config import MailboxConfig, Strict
from deskmail.mailboxes.models import Mailbox, MailboxAddress
from deskmail.mailboxes.yamlsource import (
    DuplicateKey,
    Path,
    YamlDocument,
    YamlSyntaxError,
    read_yaml,
)

log = logging.getLogger(__name__)

Prompt = Callable[[str], str]
Action = Literal["created", "updated", "unchanged"]


class MailboxesFile(Strict):
    """The whole file: one list of mailboxes."""

    mailboxes: list[MailboxConfig]


@dataclass(frozen=True)
class Problem:
    line: int
    path: str
    message: str

    def format(self, filename: str) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{filename}:{self.line}: {where}{self.message}"


class LoadRefused(Exception):
    """The file has errors; nothing was changed."""

    def __init__(self, filename: str, problems: list[Problem]) -> None:
        self.filename = filename
        self.problems = sorted(problems, key=lambda problem: problem.line)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [problem.format(self.filename) for problem in self.problems]


@dataclass(frozen=True)
class Outcome:
    name: str
    key: str
    action: Action


@dataclass
class _Secrets:
    inbound: str | None = None
    outbound: str | None = None


def load_mailboxes(
    text: str,
    filename: str,
    *,
    environ: Mapping[str, str] | None = None,
    prompt: Prompt | None = None,
) -> list[Outcome]:
    """Apply the mailboxes of a YAML text, or raise LoadRefused naming every error.

    `prompt` asks for a secret whose variable is unset (pass getpass when stdin is
    a terminal); without it an unset variable is an error. A secret is replaced
    only when `password_env` is given, so one set in the admin or by an OAuth
    login survives a reload.
    """
    environ = os.environ if environ is None else environ
    try:
        document = read_yaml(text)
    except YamlSyntaxError as exc:
        raise LoadRefused(filename, [Problem(exc.line, "", exc.message)]) from exc
    problems = _duplicate_yaml_keys(document)
    configs = _validate(document, problems)
    if configs is None:
        raise LoadRefused(filename, problems)
    problems += _conflicts(configs, document)
    secrets: list[_Secrets] = []
    # Ask for nothing while the file has errors; a terminal user is asked once it is fixed.
    if not problems or prompt is None:
        secrets = _read_secrets(configs, document, problems, environ, prompt)
    if problems:
        raise LoadRefused(filename, problems)
    try:
        outcomes = _apply(configs, secrets)
    except IntegrityError as exc:
        # Not expected after the checks; reported, never half-applied.
        raise LoadRefused(
            filename, [Problem(1, "", f"the database refused the change, nothing applied: {exc}")]
        ) from exc
    for outcome in outcomes:
        if outcome.action != "unchanged":
            log.info(
                "mailbox %s (%s) %s from %s", outcome.name, outcome.key, outcome.action, filename
            )
    return outcomes


def check_one(data: Mapping[str, Any]) -> MailboxConfig:
    """One mailbox's configuration as data (the console's form), checked as a file's is.

    LoadRefused names each problem's field relative to the mailbox (`inbound.port`).
    """
    return _check_document(YamlDocument(data={"mailboxes": [dict(data)]}), "the form")


def check_section(data: Mapping[str, Any], section: str, text: str) -> MailboxConfig:
    """One mailbox's configuration with one section given as YAML text (the console's
    editor for `routing`), checked as a file's is.

    LoadRefused names each problem's line in `text` and its field relative to the
    mailbox (`routing.triggers[0].if`).
    """
    try:
        part = read_yaml(text)
    except YamlSyntaxError as exc:
        raise LoadRefused(section, [Problem(exc.line, "", exc.message)]) from exc
    at: Path = ("mailboxes", 0, section)
    document = YamlDocument(
        data={"mailboxes": [{**data, section: {} if part.data is None else part.data}]},
        lines={(*at, *path): line for path, line in part.lines.items()},
        duplicate_keys=[
            DuplicateKey((*at, *dup.path), dup.line, dup.first_line) for dup in part.duplicate_keys
        ],
    )
    return _check_document(document, section)


def _check_document(document: YamlDocument, filename: str) -> MailboxConfig:
    problems = _duplicate_yaml_keys(document)
    configs = _validate(document, problems)
    if configs is not None:
        problems += _conflicts(configs, document)
    if configs is None or problems:
        prefix = "mailboxes[0]"
        raise LoadRefused(
            filename,
            [
                Problem(p.line, p.path.removeprefix(prefix).removeprefix("."), p.message)
                for p in problems
            ],
        )
    return configs[0]


def apply_one(
    data: Mapping[str, Any],
    *,
    inbound_secret: str | None = None,
    outbound_secret: str | None = None,
) -> Outcome:
    """Create or update one mailbox from its configuration as data (the console's form).

    The same checks and the same writing as a file, so a mailbox saved this way is
    one a file could have made. A secret given replaces the stored one; None keeps
    it. Nothing is written when LoadRefused is raised.
    """
    config = check_one(data)
    try:
        return _apply([config], [_Secrets(inbound_secret, outbound_secret)])[0]
    except IntegrityError as exc:
        raise LoadRefused(
            "the form", [Problem(1, "", f"the database refused the change: {exc}")]
        ) from exc


def _duplicate_yaml_keys(document: YamlDocument) -> list[Problem]:
    return [
        Problem(
            dup.line, _dotted(dup.path), f"duplicate key (first given on line {dup.first_line})"
        )
        for dup in document.duplicate_keys
    ]


def _validate(document: YamlDocument, problems: list[Problem]) -> list[MailboxConfig] | None:
    if document.data is None:
        problems.append(Problem(1, "", "the file is empty; expected a `mailboxes:` list"))
        return None
    try:
        parsed = MailboxesFile.model_validate(document.data)
    except ValidationError as exc:
        for error in exc.errors():
            path = _data_path(error["loc"], document.data)
            problems.append(Problem(document.line_of(path), _dotted(path), _message(error)))
        return None
    return None if problems else parsed.mailboxes


def _data_path(loc: tuple[str | int, ...], data: Any) -> Path:
    """The part of a pydantic error location that names places in the data.

    Locations can carry validator tags after the last real key (for unions, say);
    those are dropped. A missing key is kept, as the last part of the path.
    """
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str):
            path.append(part)
            break
        else:
            break
        path.append(part)
    return tuple(path)


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    if error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    return message


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _conflicts(configs: list[MailboxConfig], document: YamlDocument) -> list[Problem]:
    """Names, keys and addresses used twice in the file, or by another mailbox in the database."""
    problems: list[Problem] = []

    def problem(path: Path, message: str) -> None:
        problems.append(Problem(document.line_of(path), _dotted(path), message))

    def where(index: int) -> str:
        line = document.line_of(("mailboxes", index))
        return f"mailboxes[{index}] {configs[index].name!r} (line {line})"

    names: dict[str, int] = {}
    keys: dict[str, int] = {}
    addresses: dict[str, tuple[int, bool]] = {}
    for index, config in enumerate(configs):
        base: Path = ("mailboxes", index)
        if config.name in names:
            problem(
                (*base, "name"), f"{config.name!r} is also the name of {where(names[config.name])}"
            )
        else:
            names[config.name] = index
        if config.key in keys:
            problem((*base, "key"), f"{config.key!r} is also the key of {where(keys[config.key])}")
        else:
            keys[config.key] = index
        own = [((*base, "address"), config.address, False)] + [
            ((*base, "aliases", n), alias, True) for n, alias in enumerate(config.aliases)
        ]
        for where_in_file, address, is_alias in own:
            if address in addresses:
                other, other_is_alias = addresses[address]
                role = "an alias" if other_is_alias else "the address"
                if other == index:
                    problem(where_in_file, f"{address!r} is already {role} of this mailbox")
                else:
                    problem(where_in_file, f"{address!r} is also {role} of {where(other)}")
            else:
                addresses[address] = (index, is_alias)

    others = Mailbox.objects.exclude(name__in=list(names))
    for mailbox in others.filter(key__in=list(keys)):
        index = keys[mailbox.key]
        problem(
            ("mailboxes", index, "key"),
            f"{mailbox.key!r} is already the key of mailbox {mailbox.name!r} in the database",
        )
    taken: dict[str, tuple[str, bool]] = {}
    for mailbox in others.filter(address__in=list(addresses)):
        taken[mailbox.address] = (mailbox.name, False)
    rows = MailboxAddress.objects.filter(address__in=list(addresses)).exclude(
        mailbox__name__in=list(names)
    )
    for address, name, is_alias in rows.values_list("address", "mailbox__name", "is_alias"):
        taken.setdefault(address, (name, is_alias))
    for address, (name, is_alias) in taken.items():
        index, own_alias = addresses[address]
        config = configs[index]
        path: Path = (
            ("mailboxes", index, "aliases", config.aliases.index(address))
            if own_alias
            else ("mailboxes", index, "address")
        )
        role = "an alias" if is_alias else "the address"
        problem(path, f"{address!r} is already {role} of mailbox {name!r} in the database")
    return problems


def _read_secrets(
    configs: list[MailboxConfig],
    document: YamlDocument,
    problems: list[Problem],
    environ: Mapping[str, str],
    prompt: Prompt | None,
) -> list[_Secrets]:
    asked: dict[str, str] = {}
    found: list[_Secrets] = []
    for index, config in enumerate(configs):
        secrets = _Secrets()
        for side in ("inbound", "outbound"):
            server = getattr(config, side)
            variable = server.password_env if server is not None else None
            if not variable:
                continue
            value = environ.get(variable) or asked.get(variable)
            if not value and prompt is not None:
                value = prompt(f"{side} password for mailbox {config.name} (${variable}): ")
                if value:
                    asked[variable] = value
            if not value:
                path: Path = ("mailboxes", index, side, "password_env")
                problems.append(
                    Problem(
                        document.line_of(path),
                        _dotted(path),
                        f"environment variable {variable} is not set (or empty); set it, or "
                        "run the command on a terminal to be asked for the password",
                    )
                )
                continue
            setattr(secrets, side, value)
        found.append(secrets)
    return found


@transaction.atomic
def _apply(configs: list[MailboxConfig], secrets: list[_Secrets]) -> list[Outcome]:
    names = [config.name for config in configs]
    existing = {m.name: m for m in Mailbox.objects.select_for_update().filter(name__in=names)}
    # Free the keys and addresses that move between mailboxes of this file (a swap,
    # say) before any is claimed: the columns are unique at every statement.
    for config in configs:
        mailbox = existing.get(config.name)
        if mailbox is None:
            continue
        keep = [config.address, *config.aliases]
        mailbox.addresses.exclude(address__in=keep).delete()
        parked: dict[str, str] = {}
        if mailbox.key != config.key:
            parked["key"] = _parking_key(mailbox.pk)
        if mailbox.address != config.address:
            parked["address"] = f"moving-{mailbox.pk}@invalid"
        if parked:
            Mailbox.objects.filter(pk=mailbox.pk).update(**parked)
    return [
        _apply_one(existing.get(config.name), config, secret)
        for config, secret in zip(configs, secrets, strict=True)
    ]


def _parking_key(pk: int) -> str:
    """A key no configuration can hold (it starts with ~), unique for ids below 36**4."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        pk, rest = divmod(pk, 36)
        out = digits[rest] + out
        if not pk:
            return "~" + out[-4:]


def _apply_one(mailbox: Mailbox | None, config: MailboxConfig, secrets: _Secrets) -> Outcome:
    stored = config.model_dump(mode="json", by_alias=True)
    if mailbox is None:
        mailbox = Mailbox(name=config.name)
        action: Action = "created"
    else:
        action = "updated" if _differs(mailbox, config, stored, secrets) else "unchanged"
    if action == "unchanged":
        if mailbox.status != Mailbox.Status.FAILED and mailbox.status != config.status:
            action = "updated"
        else:
            # Reloading the same file keeps a failed mailbox failed: only a change clears it.
            return Outcome(config.name, config.key, "unchanged")
    if mailbox.status == Mailbox.Status.FAILED:
        mailbox.failed_reason = ""
        mailbox.consecutive_failures = 0
    mailbox.key = config.key
    mailbox.address = config.address
    live = mailbox.pk is not None and mailbox.status in (
        Mailbox.Status.ACTIVE,
        Mailbox.Status.FAILED,
    )
    if config.status == "active" and not live:
        mailbox.activate()  # what is on the server already is history from here
    else:
        mailbox.status = config.status
    mailbox.config = stored
    if secrets.inbound is not None:
        mailbox.inbound_secret = secrets.inbound
    if secrets.outbound is not None:
        mailbox.outbound_secret = secrets.outbound
    mailbox.save()
    return Outcome(config.name, config.key, action)


def _differs(
    mailbox: Mailbox, config: MailboxConfig, stored: dict[str, Any], secrets: _Secrets
) -> bool:
    return (
        mailbox.key != config.key
        or mailbox.address != config.address
        or mailbox.config != stored
        or (secrets.inbound is not None and mailbox.inbound_secret != secrets.inbound)
        or (secrets.outbound is not None and mailbox.outbound_secret != secrets.outbound)
    )
