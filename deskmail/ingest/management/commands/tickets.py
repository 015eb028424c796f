"""`deskmail tickets [--json] [--mailbox NAME]`: the tickets, oldest first.

The JSON form is a public contract (DESIGN.md): a list of objects with
`number`, `subject`, `status`, `mailbox` (its name), `contact` (an address or
null) and `message_ids` (without angle brackets, in arrival order).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Prefetch, QuerySet
from rich.console import Console
from rich.table import Table

from deskmail.mailboxes.models import Mailbox
from deskmail.tickets.models import Message, Ticket

CHUNK = 500


def find_mailbox(name: str) -> Mailbox:
    """The mailbox called `name`, or a CommandError that lists the names there are."""
    try:
        return Mailbox.objects.get(name=name)
    except Mailbox.DoesNotExist:
        known = list(Mailbox.objects.order_by("name").values_list("name", flat=True))
        listing = ", ".join(known) if known else "none yet (see `deskmail mailboxes load`)"
        raise CommandError(f"no mailbox named {name!r}; known mailboxes: {listing}") from None


def tickets_queryset(mailbox_name: str | None = None) -> QuerySet[Ticket]:
    tickets = (
        Ticket.objects.select_related("mailbox", "contact")
        .only("number", "title", "status", "mailbox__name", "contact__address")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.only("id", "ticket_id", "message_id").order_by(
                    "received_at", "id"
                ),
            )
        )
        .order_by("number")
    )
    if mailbox_name is not None:
        tickets = tickets.filter(mailbox=find_mailbox(mailbox_name))
    return tickets


def ticket_rows(mailbox_name: str | None = None) -> Iterator[dict[str, Any]]:
    """Each ticket as the JSON contract describes it, streamed in chunks."""
    for ticket in tickets_queryset(mailbox_name).iterator(chunk_size=CHUNK):
        yield {
            "number": ticket.number,
            "subject": ticket.title,
            "status": ticket.status,
            "mailbox": ticket.mailbox.name,
            "contact": ticket.contact.address if ticket.contact else None,
            "message_ids": [message.message_id for message in ticket.messages.all()],
        }


class Command(BaseCommand):
    help = "List tickets with their subject, status, mailbox, contact and messages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON (a list of tickets)")
        parser.add_argument("--mailbox", help="only this mailbox's tickets (by name)")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = ticket_rows(options["mailbox"])
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
