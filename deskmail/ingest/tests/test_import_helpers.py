"""Shared setup for the import, tickets and quarantine command tests."""

from __future__ import annotations

import io
import mailbox as stdlib_mailbox
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from django.core.management import call_command

from deskmail.mailboxes.loading import load_mailboxes
from deskmail.mailboxes.models import Mailbox

MAILBOXES = """\
mailboxes:
  - name: support
    key: SUP
    address: support@example.com
    status: active
  - name: sales
    key: SAL
    address: sales@example.com
    status: active
"""


def make_mailboxes() -> Mailbox:
    """The support and sales mailboxes; returns support."""
    load_mailboxes(MAILBOXES, "mailboxes.yaml", environ={})
    return Mailbox.objects.get(name="support")


def mail(
    number: int,
    subject: str,
    *,
    sender: str = "anna@customer.example",
    to: str = "support@example.com",
    replying_to: list[int] | None = None,
    day: int = 1,
    body: str = "Hello, it does not work.\n",
) -> bytes:
    """A customer's mail `<n{number}@customer.example>`; a reply names the earlier numbers."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = f"Mon, {day:02d} Jun 2026 10:{number % 60:02d}:00 +0000"
    message["Message-ID"] = f"<n{number}@customer.example>"
    if replying_to:
        message["In-Reply-To"] = f"<n{replying_to[-1]}@customer.example>"
        message["References"] = " ".join(f"<n{n}@customer.example>" for n in replying_to)
    message.set_content(body)
    return bytes(message)


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    box = stdlib_mailbox.mbox(path)
    for raw in messages:
        box.add(raw)
    box.close()
    return path


def write_maildir(path: Path, messages: list[bytes]) -> Path:
    box = stdlib_mailbox.Maildir(path)
    for raw in messages:
        box.add(raw)
    box.close()
    return path


def run(*args: Any, **options: Any) -> str:
    """Run a deskmail command; returns what it printed on stdout."""
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def summary(output: str) -> dict[str, int]:
    """The counts of the import summary, by label."""
    counts = {}
    for line in output.splitlines():
        label, _, number = line.strip().rpartition("  ")
        if number.isdigit() and label:
            counts[label.strip()] = int(number)
    return counts
