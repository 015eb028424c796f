"""`deskmail suggestions reindex`: rebuild the suggested-answers index; `report`: hit rates."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deskmail.services import suggestions
from deskmail.services.access import SYSTEM


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = (
        "`suggestions reindex` rebuilds the suggested-answers index from every resolved "
        "ticket and canned answer; `suggestions report` prints how often suggestions helped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["reindex", "report"])
        parser.add_argument("--json", action="store_true", help="the report as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "reindex":
            self._reindex(options)
        else:
            self._report(options["json"])

    def _reindex(self, options: dict[str, Any]) -> None:
        console = Console(file=options.get("stderr") or sys.stderr, highlight=False)
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=options["verbosity"] == 0,
        )
        done = 0
        with progress:
            task = progress.add_task("Indexing tickets and canned answers", total=None)
            for done, total in suggestions.reindex(SYSTEM):
                progress.update(task, completed=done, total=total)
        report = suggestions.report(SYSTEM)
        self.stdout.write(
            f"Indexed {done} sources: {report.pairs_from_tickets} resolved tickets with an "
            f"answer, {report.pairs_from_canned} canned answers."
        )

    def _report(self, as_json: bool) -> None:
        report = suggestions.report(SYSTEM)
        rates = {
            "question_hit_rate": report.rate(report.questions_inserted, report.questions),
            "top1_hit_rate": report.rate(report.top1_inserted, report.questions),
            "thumbs_up_share": report.rate(report.up, report.up + report.down),
        }
        if as_json:
            self.stdout.write(json.dumps(asdict(report) | rates, indent=2))
            return
        lines = [
            f"Index: {report.pairs_from_tickets} resolved tickets, "
            f"{report.pairs_from_canned} canned answers",
            f"Questions with suggestions shown: {report.questions} ({report.shown} suggestions)",
            f"A suggestion was inserted for {report.questions_inserted} "
            f"({rates['question_hit_rate']:.0%}); the first one for {report.top1_inserted} "
            f"({rates['top1_hit_rate']:.0%})",
            f"Votes: {report.up} up, {report.down} down ({rates['thumbs_up_share']:.0%} up)",
        ]
        for line in lines:
            self.stdout.write(line)
