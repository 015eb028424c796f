"""`deskmail suggestions reindex`: rebuild the suggested-answers index; `report`: hit rates;
`generation`: show or change the rewriting of suggestions by a chat completions server."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deskmail.services import generation, suggestions
from deskmail.services.access import SYSTEM
from deskmail.services.errors import Invalid


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = (
        "`suggestions reindex` rebuilds the suggested-answers index from every resolved "
        "ticket and canned answer; `suggestions report` prints how often suggestions helped; "
        "`suggestions generation` shows or changes the rewriting of the top suggestion by an "
        "OpenAI-compatible server (off by default)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["reindex", "report", "generation"])
        parser.add_argument("--json", action="store_true", help="the report as one JSON object")
        switch = parser.add_mutually_exclusive_group()
        switch.add_argument("--on", action="store_true", help="generation: switch rewriting on")
        switch.add_argument("--off", action="store_true", help="generation: switch it off")
        parser.add_argument("--url", help="generation: the server's base URL")
        parser.add_argument("--model", help="generation: the model's name")
        key = parser.add_mutually_exclusive_group()
        key.add_argument(
            "--api-key-env", metavar="VAR", help="generation: read the API key from VAR"
        )
        key.add_argument(
            "--no-api-key", action="store_true", help="generation: remove the stored API key"
        )
        parser.add_argument("--timeout", type=float, help="generation: seconds to wait, 1 to 600")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "reindex":
            self._reindex(options)
        elif options["action"] == "generation":
            self._generation(options)
        else:
            self._report(options["json"])

    def _generation(self, options: dict[str, Any]) -> None:
        api_key = "" if options["no_api_key"] else None
        if options["api_key_env"]:
            api_key = os.environ.get(options["api_key_env"])
            if not api_key:
                raise CommandError(f"the variable {options['api_key_env']} is not set")
        try:
            config = generation.update_config(
                SYSTEM,
                enabled=True if options["on"] else False if options["off"] else None,
                base_url=options["url"],
                model=options["model"],
                api_key=api_key,
                timeout_seconds=options["timeout"],
            )
        except Invalid as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(asdict(config), indent=2))
            return
        self.stdout.write(
            f"Rewriting suggestions: {'on' if config.enabled else 'off'}\n"
            f"Server: {config.base_url or '(none)'}\n"
            f"Model: {config.model or '(none)'}\n"
            f"API key: {'stored (encrypted)' if config.api_key_set else 'none'}\n"
            f"Timeout: {config.timeout_seconds:g} s"
        )

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
            f"Rewrites: {report.rewrites} ({report.rewrites_failed} failed, "
            f"{report.rewrites_inserted} inserted)",
        ]
        for line in lines:
            self.stdout.write(line)
