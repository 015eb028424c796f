"""`deskmail webhooks add URL ... | list | change ID ... | remove ID | deliveries ID | redeliver
ID DELIVERY | send`."""

from __future__ import annotations

import io
import os
import shutil
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.table import Table

from deskmail.cli.common import service_errors
from deskmail.services import webhooks
from deskmail.services.access import SYSTEM
from deskmail.webhooks.send import deliver_due


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = (
        "Webhook endpoints: register one, list them, change or remove one, read its delivery "
        "log, send a delivery again; `webhooks send` delivers what is due now, once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="add|list|change|remove|deliveries|redeliver|send",
        )
        add = actions.add_parser(
            "add",
            help="register an endpoint; prints its id and, if made here, its secret (last line)",
        )
        add.add_argument("url")
        self._endpoint_options(add)
        actions.add_parser("list", help="every endpoint with its state")
        change = actions.add_parser("change", help="change an endpoint")
        change.add_argument("id", type=int)
        change.add_argument("--url")
        self._endpoint_options(change)
        switch = change.add_mutually_exclusive_group()
        switch.add_argument("--enable", action="store_true", help="enable (clears failures)")
        switch.add_argument("--disable", action="store_true")
        remove = actions.add_parser("remove", help="remove an endpoint and its delivery log")
        remove.add_argument("id", type=int)
        deliveries = actions.add_parser("deliveries", help="an endpoint's delivery log")
        deliveries.add_argument("id", type=int)
        deliveries.add_argument("--status", choices=["pending", "delivered", "failed"])
        deliveries.add_argument("--limit", type=int, default=50)
        redeliver = actions.add_parser("redeliver", help="send a delivery again")
        redeliver.add_argument("id", type=int)
        redeliver.add_argument("delivery", help="the delivery id (Deskmail-Delivery)")
        actions.add_parser("send", help="fan out new events and send what is due, once")

    @staticmethod
    def _endpoint_options(parser: CommandParser) -> None:
        parser.add_argument(
            "--event", action="append", dest="events", metavar="KIND", help="(repeatable)"
        )
        parser.add_argument(
            "--mailbox", action="append", dest="mailboxes", metavar="NAME", help="(repeatable)"
        )
        parser.add_argument("--secret-env", metavar="VAR", help="the variable holding a secret")
        parser.add_argument(
            "--allow-private",
            action="store_true",
            default=None,
            help="allow loopback, private and link-local addresses for this endpoint",
        )
        parser.add_argument("--description")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        with service_errors():
            if action == "add":
                self._add(options)
            elif action == "change":
                self._change(options)
            elif action == "remove":
                webhooks.delete(SYSTEM, options["id"])
                self.stdout.write(f"webhook {options['id']} removed")
            elif action == "deliveries":
                self._deliveries(options["id"], options["status"], options["limit"])
            elif action == "redeliver":
                found = webhooks.redeliver(SYSTEM, options["id"], options["delivery"])
                self.stdout.write(f"delivery {found.delivery_id} will be sent again")
            elif action == "send":
                self.stdout.write(f"webhooks: {deliver_due()}")
            else:
                self._list()

    @staticmethod
    def _secret(options: dict[str, Any]) -> str | None:
        variable = options.get("secret_env")
        if not variable:
            return None
        value = os.environ.get(variable)
        if not value:
            raise CommandError(f"the variable {variable} is not set")
        return value

    def _add(self, options: dict[str, Any]) -> None:
        row, secret = webhooks.create(
            SYSTEM,
            options["url"],
            events=options["events"] or [],
            mailboxes=options["mailboxes"] or [],
            secret=self._secret(options),
            allow_private_addresses=bool(options["allow_private"]),
            description=options["description"] or "",
        )
        self.stdout.write(f"webhook {row.pk} for {row.url}")
        if options.get("secret_env"):
            self.stdout.write(f"signed with the secret from {options['secret_env']}")
            return
        self.stdout.write("Its signing secret is shown only now. The secret:")
        self.stdout.write(secret)

    def _change(self, options: dict[str, Any]) -> None:
        enabled = True if options["enable"] else False if options["disable"] else None
        row = webhooks.update(
            SYSTEM,
            options["id"],
            webhooks.Change(
                url=options["url"],
                events=options["events"],
                mailboxes=options["mailboxes"],
                secret=self._secret(options),
                allow_private_addresses=options["allow_private"],
                description=options["description"],
                enabled=enabled,
            ),
        )
        self.stdout.write(f"webhook {row.pk}: {row.status} {row.url}")

    def _list(self) -> None:
        table = Table("id", "url", "events", "mailboxes", "state", "failing since", "last success")
        for row in webhooks.endpoints(SYSTEM):
            state = row.status
            if row.disabled_reason:
                state = f"{state}: {row.disabled_reason}"
            table.add_row(
                str(row.pk),
                row.url + (" (private allowed)" if row.allow_private_addresses else ""),
                ", ".join(row.events) or "all",
                ", ".join(sorted(m.name for m in row.mailboxes.all())) or "all",
                state,
                row.failing_since.isoformat(timespec="seconds") if row.failing_since else "-",
                row.last_success_at.isoformat(timespec="seconds") if row.last_success_at else "-",
            )
        self._print(table)

    def _deliveries(self, pk: int, status: str | None, limit: int) -> None:
        page = webhooks.deliveries(SYSTEM, pk, status=status, limit=limit)
        table = Table("delivery", "event", "status", "tries", "last answer", "ms", "response")
        for row in page.items:
            answer = str(row.last_status_code or "") or row.last_error[:60] or "-"
            table.add_row(
                str(row.delivery_id),
                f"{row.kind} #{row.event_id}",
                row.status,
                str(row.attempts),
                answer,
                str(row.last_duration_ms or "-"),
                row.last_response[:60].replace("\n", " ") or "-",
            )
        self._print(table)

    def _print(self, table: Table) -> None:
        width = shutil.get_terminal_size().columns if self.stdout.isatty() else 200
        buffer = io.StringIO()
        Console(file=buffer, width=width, highlight=False).print(table)
        self.stdout.write(buffer.getvalue(), ending="")
