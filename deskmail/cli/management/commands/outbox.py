"""`deskmail outbox`: list pending and failed mail; `retry ID`; `send` once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from deskmail.cli.common import write_json_array
from deskmail.outbound.models import OutboxItem


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = (
        "List the mail waiting to be sent and the mail that failed; `outbox retry ID` puts "
        "a failed mail back in line; `outbox send` sends what is due now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["list", "retry", "send"], default="list")
        parser.add_argument("id", nargs="?", type=int, help="the outbox row (for retry)")
        parser.add_argument("--all", action="store_true", help="list sent and skipped mail too")
        parser.add_argument("--json", action="store_true", help="one JSON array")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "retry":
            self._retry(options["id"])
        elif action == "send":
            # Sending (and the connectors under it) loads only for `send` and `retry`.
            from deskmail.outbound.send import send_due

            self.stdout.write(f"outbox: {send_due()}")
        else:
            self._list(options["all"], options["json"])

    def _retry(self, pk: int | None) -> None:
        from deskmail.outbound.send import retry

        if pk is None:
            raise CommandError("outbox retry needs the ID of an outbox row")
        item = OutboxItem.objects.filter(pk=pk).first()
        if item is None:
            raise CommandError(f"there is no outbox row {pk}")
        if not retry(item):
            raise CommandError(f"outbox row {pk} is {item.status}: only failed or pending mail")
        self.stdout.write(f"outbox #{pk} will be sent again by the worker")

    def _list(self, everything: bool, as_json: bool) -> None:
        items: QuerySet[OutboxItem] = OutboxItem.objects.select_related("ticket").order_by("id")
        if not everything:
            items = items.filter(
                status__in=[
                    OutboxItem.Status.PENDING,
                    OutboxItem.Status.SENDING,
                    OutboxItem.Status.FAILED,
                ]
            )
        rows = (_row(item) for item in items.iterator(chunk_size=1_000))
        if as_json:
            write_json_array(self.stdout, rows)
            return
        empty = True
        for row in rows:
            empty = False
            due = f" next {row['next_attempt_at'][:19]}" if row["status"] == "pending" else ""
            error = f"\n    {row['last_error']}" if row["last_error"] else ""
            self.stdout.write(
                f"#{row['id']:<6} {row['status']:<8} {row['kind']:<8} {_where(row)} "
                f"to {row['recipient'] or '-'} tries {row['attempts']}{due}{error}"
            )
        if empty:
            self.stdout.write("The outbox is empty.")


def _row(item: OutboxItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "status": item.status,
        "kind": item.kind,
        "ticket": item.ticket.number if item.ticket is not None else None,
        "recipient": item.recipient,
        "message_id": item.message_id,
        "attempts": item.attempts,
        "next_attempt_at": item.next_attempt_at.isoformat(),
        "created_at": item.created_at.isoformat(),
        "sent_at": item.sent_at.isoformat() if item.sent_at else None,
        "last_error": item.last_error,
    }


def _where(row: dict[str, Any]) -> str:
    return f"ticket #{row['ticket']}" if row["ticket"] is not None else "no ticket"
