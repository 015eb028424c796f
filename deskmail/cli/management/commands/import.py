"""`deskmail import --mailbox NAME PATH...`: bring a mail archive into a mailbox's tickets.

The archive goes through the same pipeline as live mail, as history: nothing
is acknowledged to the sender and no rate limit applies. With `--live` it is
mail arriving now instead (mail recovered after an outage, say): filters,
loop and rate guards, acknowledgements, all as for a mailbox's own mail.
Each message is stored under its archive position, so running the same
import again adds nothing. Nothing stops the
import: a file that cannot be read is reported, a message a step fails on is
kept in quarantine and reported, and one stored without a sender or
Message-ID is flagged. The exit status is non-zero only when nothing at all
could be read.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import batched
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from deskmail.cli.common import find_mailbox
from deskmail.ingest import parsing
from deskmail.ingest.api import IngestItem, IngestResult, Outcome, SourcePosition, ingest_stream
from deskmail.ingest.importers import read_archives

OUTCOMES = (
    ("new_ticket", "new tickets"),
    ("appended", "appended"),
    ("duplicate", "duplicates"),
    ("excluded", "excluded"),
    ("quarantined", "quarantined"),
)
# Larger batches mean fewer bulk inserts and commits; memory grows with the batch
# (about 90 MiB peak at 200, 105 MiB at 500, 125 MiB at 1,000 on generated mail).
BATCH_SIZE = 500
PROBLEMS = (
    ("unreadable", "unreadable"),
    ("flagged", "flagged"),
)
# Problems printed one by one in the summary; the rest are counted.
SHOWN_PROBLEMS = 20


class _RateColumn(ProgressColumn):
    """Messages per second since the start (rich's own speed is a short moving window)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} msg/s", style="progress.data.speed")


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = "Import .eml files, mbox files or Maildir folders into a mailbox, as history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mailbox", required=True, help="the mailbox's name")
        parser.add_argument(
            "paths", nargs="+", metavar="PATH", help=".eml file, mbox file, Maildir or directory"
        )
        parser.add_argument(
            "--live",
            action="store_true",
            help="as mail arriving now (acknowledgements, rate limits), not as history",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"messages per database transaction (default {BATCH_SIZE})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mailbox = find_mailbox(options["mailbox"])
        batch_size = options["batch_size"]
        console = Console(file=options.get("stderr") or sys.stderr, highlight=False)
        show_progress = options["verbosity"] > 0
        tally = Tally()

        def unreadable(where: str, what: str) -> None:
            line = tally.note("unreadable", f"{where}: {what}")
            if show_progress:
                console.print(f"[yellow]{line}")

        def items() -> Iterator[IngestItem]:
            for message in read_archives(options["paths"], unreadable):
                tally.read += 1
                yield IngestItem(message.raw, message.position)

        progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),  # pulses: the number of messages is known only at the end
            TextColumn("{task.completed:,} messages"),
            _RateColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress,
        )
        started = time.monotonic()
        with progress:
            task = progress.add_task(f"Importing into {mailbox.name}", total=None)
            # Progress after every batch, and the results (stored messages) let go
            # of at once, so memory stays flat.
            batches = (list(chunk) for chunk in batched(items(), batch_size))
            try:
                for chunk, results in ingest_stream(mailbox, batches, history=not options["live"]):
                    for item, result in zip(chunk, results, strict=True):
                        assert item.source is not None  # every archive message has one
                        line = tally.add(item.source, result)
                        if line and show_progress:
                            progress.console.print(f"[yellow]{line}")
                    progress.advance(task, len(chunk))
            finally:
                parsing.close()
        tally.seconds = time.monotonic() - started
        for line in tally.summary(mailbox.name):
            self.stdout.write(line)
        if tally.read == 0:
            raise CommandError("nothing could be read from " + ", ".join(options["paths"]))


@dataclass
class Tally:
    """What an import did: outcomes, and the first few problems of each kind by name."""

    read: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, text: str, *, count: bool = True) -> str:
        """Count a problem; keep its description if it is among the first few of its kind."""
        if count:
            self.counts[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < SHOWN_PROBLEMS:
            shown.append(text)
        return f"{kind}: {text}"

    def add(self, position: SourcePosition, result: IngestResult) -> str | None:
        """Count one pipeline result; returns a problem line to show, if it is one."""
        self.counts[result.outcome] += 1
        where = f"{position.folder} #{position.uid}"
        if result.outcome == Outcome.QUARANTINED:
            return self.note("quarantined", f"{where}: {result.error}", count=False)
        message = result.message
        if result.outcome in (Outcome.NEW_TICKET, Outcome.APPENDED) and message is not None:
            # Kept, but an agent will want to know: mail nobody can answer or thread.
            missing = [
                label
                for label, absent in (
                    ("sender", not message.from_address),
                    ("Message-ID", message.synthetic_message_id),
                )
                if absent
            ]
            if missing:
                return self.note("flagged", f"{where}: stored without {' or '.join(missing)}")
        return None

    def summary(self, mailbox: str) -> list[str]:
        rate = self.read / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"Read {self.read} messages into {mailbox} in {self.seconds:.1f} s "
            f"({rate:,.0f} messages/s)."
        ]
        width = max(len(label) for _, label in OUTCOMES + PROBLEMS)
        for key, label in OUTCOMES + PROBLEMS:
            lines.append(f"  {label:<{width}}  {self.counts[key]}")
        for key, label in (("quarantined", "quarantined"), *PROBLEMS):
            if not self.counts[key]:
                continue
            lines.append(f"{label.capitalize()}:")
            lines += [f"  {text}" for text in self.examples[key]]
            hidden = self.counts[key] - len(self.examples[key])
            if hidden:
                lines.append(f"  ... and {hidden} more")
        if self.counts["quarantined"]:
            lines.append("See `deskmail quarantine list`; `deskmail quarantine retry` retries.")
        return lines
