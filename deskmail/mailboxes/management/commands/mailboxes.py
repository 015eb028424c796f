"""`deskmail mailboxes load FILE.yaml | export [NAME...] | list`."""

from __future__ import annotations

import getpass
import io
import shutil
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table

from deskmail.mailboxes.exporting import ExportError, export_yaml
from deskmail.mailboxes.loading import LoadRefused, load_mailboxes
from deskmail.mailboxes.models import Mailbox


class Command(BaseCommand):
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

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "load":
            self.load(options["file"])
        elif action == "export":
            self.export(options["names"])
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
        terminal = self.stdout.isatty()
        width = shutil.get_terminal_size().columns if terminal else 200
        buffer = io.StringIO()
        Console(file=buffer, width=width, force_terminal=terminal, highlight=False).print(table)
        self.stdout.write(buffer.getvalue(), ending="")
