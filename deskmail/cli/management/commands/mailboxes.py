"""`deskmail mailboxes ACTION`: load, export, list, status, test, retry, authorize, agents."""

from __future__ import annotations

import getpass
import io
import shutil
import sys
from argparse import ArgumentParser
from pathlib import Path
from secrets import token_urlsafe
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table

from deskmail.cli.common import find_mailbox, service_errors
from deskmail.env import env_str
from deskmail.mailboxes import connections, grants
from deskmail.mailboxes.exporting import ExportError, export_yaml
from deskmail.mailboxes.loading import LoadRefused, load_mailboxes
from deskmail.mailboxes.models import Mailbox, Membership, request_retry
from deskmail.services import people
from deskmail.services.access import SYSTEM


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = "Load mailboxes from YAML, export them back, or list them."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        load = actions.add_parser(
            "load",
            help="create or update mailboxes from a YAML file (all or nothing)",
            description="Create or update mailboxes (matched by name) from a YAML file. "
            "A file with any error is refused whole; mailboxes not in the file are left as "
            "they are. Secrets come from the environment variables named by password_env; "
            "on a terminal an unset one is asked for.",
        )
        load.add_argument("file", help="the YAML file, or - for stdin")
        export = actions.add_parser("export", help="print the mailboxes as YAML (no secrets)")
        export.add_argument("names", nargs="*", help="only these mailboxes")
        actions.add_parser("list", help="a table of the mailboxes")
        actions.add_parser(
            "status", help="health per mailbox: state, last sync, lag, backlog, last error"
        )
        test = actions.add_parser(
            "test", help="connect, log in, list folders, count messages, try SMTP login"
        )
        test.add_argument("name", help="the mailbox's name")
        retry = actions.add_parser(
            "retry", help="try a failing mailbox again now, without waiting out its cool-off"
        )
        retry.add_argument("name", help="the mailbox's name")
        authorize = actions.add_parser(
            "authorize",
            help="connect an OAuth2 mailbox (or reconnect it): sign in at the provider",
            description="Sign in to the mailbox's account at its OAuth2 provider and keep "
            "the refresh token, encrypted. Prints the provider's sign-in address; after "
            "signing in, paste the whole address the browser was sent back to (the page "
            "there may show an error: the address is what counts). With "
            "--refresh-token-env, a refresh token obtained elsewhere is used instead.",
        )
        authorize.add_argument("name", help="the mailbox's name")
        authorize.add_argument(
            "--refresh-token-env",
            metavar="VAR",
            help="manual mode: read a refresh token from this environment variable",
        )
        authorize.add_argument(
            "--client-secret-env",
            metavar="VAR",
            help="keep the OAuth client secret from this environment variable with the "
            "account, encrypted (else client_secret_env is read by every process)",
        )
        agents = actions.add_parser(
            "agents", help="who is on a mailbox's team: list, add or remove people"
        )
        agents.add_argument("change", choices=["list", "add", "remove"])
        agents.add_argument("name", help="the mailbox's name")
        agents.add_argument("emails", nargs="*", metavar="EMAIL")
        agents.add_argument(
            "--supervisor", action="store_true", help="add them as supervisors, not agents"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "load":
            self.load(options["file"])
        elif action == "export":
            self.export(options["names"])
        elif action == "status":
            self.status()
        elif action == "test":
            self.test(options["name"])
        elif action == "retry":
            self.retry(options["name"])
        elif action == "authorize":
            self.authorize(
                options["name"], options["refresh_token_env"], options["client_secret_env"]
            )
        elif action == "agents":
            self.agents(options["change"], options["name"], options["emails"], options)
        else:
            self.list()

    def load(self, file: str) -> None:
        if file == "-":
            text, filename = sys.stdin.read(), "<stdin>"
            prompt = None
        else:
            try:
                text = Path(file).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{file}: cannot read it ({exc})") from exc
            filename = file
            prompt = getpass.getpass if sys.stdin.isatty() else None
        try:
            outcomes = load_mailboxes(text, filename, prompt=prompt)
        except LoadRefused as exc:
            for line in exc.lines():
                self.stderr.write(line)
            count = len(exc.problems)
            raise CommandError(
                f"{filename}: {count} error{'s' if count != 1 else ''}; nothing was changed"
            ) from exc
        for outcome in outcomes:
            self.stdout.write(f"{outcome.name} ({outcome.key}): {outcome.action}")
        if not outcomes:
            self.stdout.write("no mailboxes in the file")

    def export(self, names: list[str]) -> None:
        mailboxes = Mailbox.objects.all()
        if names:
            mailboxes = mailboxes.filter(name__in=names)
            missing = sorted(set(names) - {mailbox.name for mailbox in mailboxes})
            if missing:
                raise CommandError(f"no mailbox named {', '.join(missing)}")
        try:
            text = export_yaml(mailboxes)
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(text, ending="")

    def status(self) -> None:
        from deskmail.sync.health import status_rows

        rows = status_rows()
        if not rows:
            self.stdout.write("no mailboxes")
            return
        table = Table(*rows[0].keys())
        for row in rows:
            table.add_row(*row.values())
        self._print(table)

    def test(self, name: str) -> None:
        mailbox = find_mailbox(name)
        failed = False
        for direction, steps in connections.test(mailbox).items():
            if steps is None:
                self.stdout.write(f"{direction}: not configured")
                continue
            part = getattr(mailbox.settings, direction)
            self.stdout.write(f"{direction} ({part.protocol}):")
            for step in steps:
                self.stdout.write(f"  {step}")
                failed = failed or not step.ok
        if failed:
            raise CommandError(f"mailbox {name}: the connection test failed")
        self.stdout.write(f"mailbox {name}: every step passed")

    def retry(self, name: str) -> None:
        mailbox = find_mailbox(name)
        request_retry(mailbox)
        self.stdout.write(f"mailbox {name}: the worker tries it again within a few seconds")

    def authorize(self, name: str, refresh_var: str | None, secret_var: str | None) -> None:
        mailbox = find_mailbox(name)
        secret = _from_env(secret_var, "client secret") if secret_var else ""
        try:
            if refresh_var:
                token = _from_env(refresh_var, "refresh token")
                grant = grants.connect_with_refresh_token(mailbox, token, client_secret=secret)
            else:
                pending = grants.start(mailbox, token_urlsafe(16), client_secret=secret)
                self.stdout.write("Open this address in a browser, sign in and allow access:")
                self.stdout.write(pending.url)
                self.stdout.write("Then paste the address the browser was sent back to:")
                self.stdout.flush()
                answer = sys.stdin.readline().strip()
                query = dict(parse_qsl(urlsplit(answer).query))
                grant = grants.finish(mailbox, pending.verifier, query, client_secret=secret)
        except grants.GrantError as exc:
            raise CommandError(f"mailbox {name}: {exc}") from None
        who = f" as {grant.account}" if grant.account else ""
        self.stdout.write(f"mailbox {name}: connected{who}; the tokens are kept encrypted")

    def agents(self, change: str, name: str, emails: list[str], options: dict[str, Any]) -> None:
        mailbox = find_mailbox(name)
        if change != "list" and not emails:
            raise CommandError(f"mailboxes agents {change} needs at least one address")
        with service_errors():
            if change == "add":
                joins = (
                    Membership.Role.SUPERVISOR if options["supervisor"] else Membership.Role.AGENT
                )
                added = people.add_to_team(SYSTEM, mailbox, emails, joins)
                self.stdout.write(f"{name}: added {', '.join(added) or 'nobody new'}")
            elif change == "remove":
                removed = people.remove_from_team(SYSTEM, mailbox, emails)
                self.stdout.write(f"{name}: removed {', '.join(removed) or 'nobody'}")
        for email, role in people.team(mailbox):
            self.stdout.write(f"  {email} ({role})")

    def list(self) -> None:
        table = Table("name", "key", "address", "status", "protocol")
        for mailbox in Mailbox.objects.all():
            inbound = (mailbox.config or {}).get("inbound") or {}
            table.add_row(
                mailbox.name,
                mailbox.key,
                mailbox.address,
                mailbox.status,
                inbound.get("protocol") or "-",
            )
        self._print(table)

    def _print(self, table: Table) -> None:
        terminal = self.stdout.isatty()
        width = shutil.get_terminal_size().columns if terminal else 200
        buffer = io.StringIO()
        Console(file=buffer, width=width, force_terminal=terminal, highlight=False).print(table)
        self.stdout.write(buffer.getvalue(), ending="")


def _from_env(variable: str, what: str) -> str:
    value = env_str(variable)
    if not value:
        raise CommandError(f"the environment variable {variable} (the {what}) is empty")
    return value
