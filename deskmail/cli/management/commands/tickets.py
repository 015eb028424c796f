"""`deskmail tickets [--json] [--mailbox NAME] [--as EMAIL]`: the tickets, oldest first.

The JSON form is a public contract (DESIGN.md): a list of objects with
`number`, `subject`, `status`, `mailbox` (its name), `contact` (an address or
null) and `message_ids` (without angle brackets, in arrival order).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from deskmail.cli.common import actor, find_mailbox, service_errors
from deskmail.services.queries import export_rows


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = "List tickets with their subject, status, mailbox, contact and messages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON (a list of tickets)")
        parser.add_argument("--mailbox", help="only this mailbox's tickets (by name)")
        parser.add_argument("--as", dest="as_", metavar="EMAIL", help="what this person sees")

    def handle(self, *args: Any, **options: Any) -> None:
        who = actor(options["as_"])
        if options["mailbox"]:
            find_mailbox(options["mailbox"])  # an unknown name lists the known ones
        with service_errors():
            rows = export_rows(who, options["mailbox"])
            if options["json"]:
                self._json(rows)
            else:
                self._table(rows)

    def _json(self, rows: Iterator[dict[str, Any]]) -> None:
        # One ticket at a time, so that a large helpdesk does not need it all in memory.
        self.stdout.write("[", ending="")
        for index, row in enumerate(rows):
            separator = "," if index else ""
            self.stdout.write(f"{separator}\n  {json.dumps(row, ensure_ascii=False)}", ending="")
        self.stdout.write("\n]")

    def _table(self, rows: Iterator[dict[str, Any]]) -> None:
        # rich only for the table: `--json` is read by programs, often, and starts without it.
        from rich.console import Console
        from rich.table import Table

        table = Table("#", "Subject", "Status", "Mailbox", "Contact", "Messages", box=None)
        count = 0
        for row in rows:
            count += 1
            table.add_row(
                str(row["number"]),
                row["subject"],
                row["status"],
                row["mailbox"],
                row["contact"] or "",
                str(len(row["message_ids"])),
            )
        if not count:
            self.stdout.write("No tickets.")
            return
        buffer = io.StringIO()
        Console(file=buffer, width=160, highlight=False, color_system=None).print(table)
        self.stdout.write(buffer.getvalue(), ending="")
