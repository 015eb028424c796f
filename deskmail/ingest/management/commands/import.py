"""`deskmail import --mailbox NAME PATH...`: bring a mail archive into a mailbox's tickets.

The archive goes through the same pipeline as live mail, as history: nothing
is acknowledged to the sender. Each message is stored under its archive
position, so running the same import again adds nothing. A message that
cannot be read or processed is reported (and, when it could be read, kept in
quarantine); the import goes on. The exit status is non-zero only when
nothing at all could be read.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from deskmail.ingest.api import SourcePosition, ingest_many
from deskmail.ingest.importers import read_archives
from deskmail.ingest.management.commands.tickets import find_mailbox
from deskmail.mailboxes.models import Mailbox

OUTCOMES = (
    ("new_ticket", "new tickets"),
    ("appended", "appended"),
    ("duplicate", "duplicates"),
    ("excluded", "excluded"),
    ("quarantined", "quarantined"),
)
BATCH_SIZE = 200
# Problems printed one by one in the summary; the rest are counted.
SHOWN_PROBLEMS = 20


class _RateColumn(ProgressColumn):
    """Messages per second since the start (rich's own speed is a short moving window)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} msg/s", style="progress.data.speed")


class Command(BaseCommand):
    help = "Import .eml files, mbox files or Maildir folders into a mailbox, as history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mailbox", required=True, help="the mailbox's name")
        parser.add_argument(
            "paths", nargs="+", metavar="PATH", help=".eml file, mbox file, Maildir or directory"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"messages per database transaction (default {BATCH_SIZE})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mailbox = find_mailbox(options["mailbox"])
        problems: list[str] = []
        counts: Counter[str] = Counter()
        read = 0
        batch_size = options["batch_size"]
        console = Console(file=options.get("stderr") or sys.stderr, highlight=False)
        show_progress = options["verbosity"] > 0

        def report(where: str, what: str) -> None:
            problems.append(f"{where}: {what}")
            if show_progress:
                console.print(f"[yellow]unreadable[/] {where}: {what}")

        def items() -> Iterator[tuple[bytes, SourcePosition]]:
            nonlocal read
            for message in read_archives(options["paths"], report):
                read += 1
                yield message.raw, message.position

        started = time.monotonic()
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            TextColumn("{task.completed:,} messages"),
            _RateColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress,
        )
        with progress:
            task = progress.add_task(f"Importing into {mailbox.name}", total=None)
            # One pipeline batch per call: progress after every batch, and the
            # results (stored messages) let go of at once, so memory stays flat.
            for chunk in _chunks(items(), batch_size):
                results = ingest_many(mailbox, chunk, history=True, batch_size=batch_size)
                for (_, position), result in zip(chunk, results, strict=True):
                    counts[result.outcome] += 1
                    if result.outcome == "quarantined":
                        problem = f"{_where(position)}: quarantined: {result.error}"
                        problems.append(problem)
                        if show_progress:
                            progress.console.print(f"[yellow]{problem}")
                progress.advance(task, len(chunk))
        elapsed = time.monotonic() - started
        self._summary(mailbox, read, counts, problems, elapsed)
        if read == 0:
            raise CommandError("nothing could be read from " + ", ".join(options["paths"]))

    def _summary(
        self,
        mailbox: Mailbox,
        read: int,
        counts: Counter[str],
        problems: list[str],
        elapsed: float,
    ) -> None:
        rate = read / elapsed if elapsed > 0 else 0.0
        self.stdout.write(
            f"Read {read} messages into {mailbox.name} in {elapsed:.1f} s ({rate:,.0f} messages/s)."
        )
        width = max(len(label) for _, label in OUTCOMES)
        for outcome, label in OUTCOMES:
            self.stdout.write(f"  {label:<{width}}  {counts[outcome]}")
        unreadable = len(problems) - counts["quarantined"]
        self.stdout.write(f"  {'unreadable':<{width}}  {unreadable}")
        if problems:
            self.stdout.write("Problems:")
            for problem in problems[:SHOWN_PROBLEMS]:
                self.stdout.write(f"  {problem}")
            if len(problems) > SHOWN_PROBLEMS:
                self.stdout.write(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
            if counts["quarantined"]:
                self.stdout.write("Quarantined messages: `deskmail quarantine list`.")


def _where(position: SourcePosition) -> str:
    return f"{position.folder} #{position.uid}"


def _chunks(
    items: Iterator[tuple[bytes, SourcePosition]], size: int
) -> Iterator[list[tuple[bytes, SourcePosition]]]:
    chunk: list[tuple[bytes, SourcePosition]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
