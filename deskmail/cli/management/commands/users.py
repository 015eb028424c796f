"""`deskmail users create EMAIL --role agent|supervisor|admin [--mailbox NAME]... | list`,
and `deskmail users availability EMAIL available|paused|logged_out [--reason TEXT]`."""

from __future__ import annotations

import io
import os
import shutil
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.table import Table

from deskmail.cli.common import service_errors
from deskmail.mailboxes.models import Membership
from deskmail.services import availability, people
from deskmail.services.access import SYSTEM, Role, role_of


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = "Create the people who work in the console, or list them."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="create|list|availability"
        )
        create = actions.add_parser(
            "create",
            help="a person who signs in with their address",
            description="Create a person. Agents and supervisors join the --mailbox teams. "
            "The password is read from the environment variable --password-env names; "
            "without it the person cannot sign in until an admin sets one.",
        )
        create.add_argument("email")
        create.add_argument("--role", required=True, choices=[r.value for r in Role])
        create.add_argument("--mailbox", action="append", default=[], metavar="NAME")
        create.add_argument("--password-env", metavar="VAR", help="the variable holding it")
        actions.add_parser("list", help="everyone, with their role and mailboxes")
        state = actions.add_parser(
            "availability",
            help="whether an agent gets new tickets from distribution",
            description="Set a person's availability: distribution gives new tickets only "
            "to available agents.",
        )
        state.add_argument("email")
        state.add_argument("state", choices=availability.STATES)
        state.add_argument("--reason", default="", help="why paused (shown beside the state)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list()
            return
        if options["action"] == "availability":
            with service_errors():
                row = availability.set_availability(
                    SYSTEM, options["email"], options["state"], options["reason"]
                )
            reason = f" ({row.reason})" if row.reason else ""
            self.stdout.write(f"{options['email'].strip().lower()} is {row.state}{reason}")
            return
        password = None
        if options["password_env"]:
            password = os.environ.get(options["password_env"])
            if not password:
                raise CommandError(f"the variable {options['password_env']} is not set")
        with service_errors():
            user = people.create_user(
                SYSTEM,
                options["email"],
                Role(options["role"]),
                mailboxes=options["mailbox"],
                password=password,
            )
        teams = ", ".join(options["mailbox"]) or "no mailbox yet"
        self.stdout.write(f"created {user.email} ({options['role']}; {teams})")

    def _list(self) -> None:
        table = Table("address", "role", "mailboxes", "active", "availability")
        teams: dict[int, list[str]] = {}
        for row in Membership.objects.select_related("mailbox").order_by("mailbox__name"):
            teams.setdefault(row.user_id, []).append(f"{row.mailbox.name} ({row.role})")
        for user in get_user_model().objects.order_by("email", "username"):
            table.add_row(
                user.email or user.get_username(),
                role_of(user),
                ", ".join(teams.get(user.pk, [])) or "-",
                "yes" if user.is_active else "no",
                " ".join(availability.availability_of(user)).strip().replace("_", " "),
            )
        width = shutil.get_terminal_size().columns if self.stdout.isatty() else 200
        buffer = io.StringIO()
        Console(file=buffer, width=width, highlight=False).print(table)
        self.stdout.write(buffer.getvalue(), ending="")
