"""`deskmail trace MESSAGE-ID`: why a message ended up where it did, step by step.

`deskmail trace --dry-run --mailbox NAME FILE.eml` runs the pipeline on a file
and shows what it would do, writing nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deskmail.ingest.api import dry_run
from deskmail.ingest.models import QuarantinedMessage
from deskmail.ingest.trace import render
from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.models import Message


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="a Message-ID, or with --dry-run an .eml file")
        parser.add_argument("--dry-run", action="store_true", help="run the pipeline on a file")
        parser.add_argument("--mailbox", help="the mailbox name (with --dry-run)")
        parser.add_argument("--json", action="store_true", help="print the trace as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            self._dry_run(options)
        else:
            self._stored(options)

    def _emit(self, header: list[str], entries: list[dict[str, Any]], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(entries, ensure_ascii=False, indent=2))
            return
        for line in header:
            self.stdout.write(line)
        self.stdout.write("")
        self.stdout.write(render(entries))

    def _stored(self, options: dict[str, Any]) -> None:
        message_id = options["target"].strip().strip("<>")
        message = (
            Message.objects.filter(message_id=message_id)
            .select_related("ticket", "mailbox")
            .first()
        )
        if message is None:
            self._quarantined(message_id)
            return
        where = f"ticket #{message.ticket.number}" if message.ticket else "no ticket"
        header = [
            f"Message-ID: <{message.message_id}>",
            f"Mailbox:    {message.mailbox.name}",
            f"Outcome:    {where}"
            + (f", excluded ({message.excluded_reason})" if message.excluded else ""),
        ]
        deliveries = [
            f"Delivered:  {d.address or d.mailbox.address} {d.source_key}".rstrip()
            for d in message.deliveries.select_related("mailbox").order_by("id")
        ]
        self._emit(header + deliveries, message.trace, options["json"])

    def _quarantined(self, message_id: str) -> None:
        items = QuarantinedMessage.objects.filter(header_message_id=message_id).select_related(
            "mailbox"
        )
        if not items:
            raise CommandError(f"no stored message with Message-ID <{message_id}>")
        for item in items:
            retry = item.next_retry_at.isoformat() if item.next_retry_at else "no automatic retry"
            self.stdout.write(f"Message-ID: <{message_id}>")
            self.stdout.write(f"Mailbox:    {item.mailbox.name}")
            self.stdout.write(
                f"Outcome:    quarantined ({item.status}, {item.attempts} attempts; next: {retry})"
            )
            self.stdout.write(f"Error:      {item.error}")
            self.stdout.write(f"Quarantine: {item.pk} (deskmail quarantine retry {item.pk})")

    def _dry_run(self, options: dict[str, Any]) -> None:
        name = options["mailbox"]
        if not name:
            raise CommandError("--dry-run needs --mailbox NAME")
        mailbox = Mailbox.objects.filter(name=name).first()
        if mailbox is None:
            raise CommandError(f"no mailbox named {name!r}")
        path = Path(options["target"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        result = dry_run(mailbox, path.read_bytes())
        where = ""
        if result.ticket is not None:
            where = f" (ticket #{result.ticket.number})"
        header = [f"Dry run in mailbox {mailbox.name}: would be {result.outcome}{where}"]
        self._emit(header, [d.to_json() for d in result.trace], options["json"])
