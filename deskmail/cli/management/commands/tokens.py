"""`deskmail tokens create EMAIL [--name N] [--expires DAYS] | list [EMAIL] | revoke ID`."""

from __future__ import annotations

import io
import shutil
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from deskmail.cli.common import service_errors
from deskmail.services import people
from deskmail.services import tokens as access_tokens
from deskmail.services.access import SYSTEM


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = "Personal access tokens for the API: create one for a person, list them, revoke one."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke")
        create = actions.add_parser(
            "create",
            help="a new token; printed once, alone on the last line",
            description="Create a token that acts as the person with this address (their "
            "mailboxes, their role). It is printed once, alone on the last line, and stored "
            "only as a hash.",
        )
        create.add_argument("email")
        create.add_argument("--name", default="", help="what the token is for")
        create.add_argument("--expires", type=int, metavar="DAYS", help="valid for DAYS days")
        listing = actions.add_parser("list", help="every token (or one person's)")
        listing.add_argument("email", nargs="?")
        revoke = actions.add_parser("revoke", help="revoke a token at once")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        with service_errors():
            if action == "create":
                self._create(options["email"], options["name"], options["expires"])
            elif action == "revoke":
                row = access_tokens.revoke(SYSTEM, options["id"])
                self.stdout.write(f"token {row.pk} ({row.prefix}…) of {row.user.email} revoked")
            else:
                self._list(options["email"])

    def _create(self, email: str, name: str, days: int | None) -> None:
        user = people.find_user(email)
        row, token = access_tokens.create(SYSTEM, user, name=name, expires_days=days)
        expiry = row.expires_at.isoformat(timespec="seconds") if row.expires_at else "never"
        self.stdout.write(f"token {row.pk} for {user.email} (expires: {expiry})")
        self.stdout.write("It is shown only now; store it somewhere safe. The token:")
        self.stdout.write(token)

    def _list(self, email: str | None) -> None:
        rows = access_tokens.tokens(SYSTEM, everyone=True).order_by("user__email", "id")
        if email:
            rows = rows.filter(user=people.find_user(email))
        now = timezone.now()
        table = Table("id", "person", "name", "token", "state", "expires", "last used")
        for row in rows:
            table.add_row(
                str(row.pk),
                row.user.email or row.user.get_username(),
                row.name or "-",
                f"{row.prefix}…",
                row.state_at(now),
                row.expires_at.isoformat(timespec="minutes") if row.expires_at else "never",
                row.last_used_at.isoformat(timespec="minutes") if row.last_used_at else "never",
            )
        width = shutil.get_terminal_size().columns if self.stdout.isatty() else 200
        buffer = io.StringIO()
        Console(file=buffer, width=width, highlight=False).print(table)
        self.stdout.write(buffer.getvalue(), ending="")
