"""`deskmail quarantine list|retry`: the mail a pipeline step failed on, and trying it again.

    deskmail quarantine list [--all] [--json]
    deskmail quarantine list --kept [--reason TEXT] [--json]
    deskmail quarantine retry ID [ID ...]
    deskmail quarantine retry --all

`list` shows what still waits (pending and failed); `--all` adds what a
retry has since stored. `--kept` lists instead the mail that was stored on no
ticket on purpose (a filter, a loop guard, a mailbox that takes no new
tickets), newest first, with its Message-ID for `deskmail trace`. `retry --all`
retries everything that still waits, whether or not its automatic retries are
used up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from deskmail.cli.common import write_json_array
from deskmail.ingest.models import QuarantinedMessage

WAITING = (QuarantinedMessage.Status.PENDING, QuarantinedMessage.Status.FAILED)


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def quarantine_rows(include_resolved: bool = False) -> Iterator[dict[str, Any]]:
    items: QuerySet[QuarantinedMessage] = QuarantinedMessage.objects.select_related(
        "mailbox"
    ).order_by("created_at", "id")
    if not include_resolved:
        items = items.filter(status__in=WAITING)
    for item in items.iterator(chunk_size=1_000):
        yield {
            "id": item.id,
            "when": item.created_at.isoformat(timespec="seconds"),
            "mailbox": item.mailbox.name,
            "status": item.status,
            "attempts": item.attempts,
            "error": first_line(item.error),
            "source": item.source,
        }


def kept_rows(reason: str = "") -> list[dict[str, Any]]:
    from deskmail.services import queries
    from deskmail.services.access import SYSTEM

    return [
        {
            "id": message.pk,
            "when": message.received_at.isoformat(timespec="seconds"),
            "mailbox": message.mailbox.name,
            "from": message.from_address,
            "subject": message.subject,
            "message_id": message.message_id,
            "reason": message.excluded_reason,
        }
        for message in queries.kept_mail(SYSTEM, reason=reason, limit=10_000)
    ]


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = "List quarantined mail or retry it."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|retry")
        listing = actions.add_parser("list", help="quarantined mail still waiting")
        listing.add_argument("--all", action="store_true", help="also what has been resolved")
        listing.add_argument("--json", action="store_true", help="print JSON")
        listing.add_argument(
            "--kept", action="store_true", help="mail kept on no ticket on purpose, and why"
        )
        listing.add_argument("--reason", default="", help="with --kept: reasons containing TEXT")
        retrying = actions.add_parser("retry", help="run quarantined mail through the pipeline")
        retrying.add_argument("ids", nargs="*", type=int, metavar="ID")
        retrying.add_argument("--all", action="store_true", help="every waiting item")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list" and options["kept"]:
            self._kept(options["reason"], options["json"])
        elif options["action"] == "list":
            self._list(options["all"], options["json"])
        else:
            self._retry(options["ids"], options["all"])

    def _list(self, include_resolved: bool, as_json: bool) -> None:
        if as_json:
            write_json_array(self.stdout, quarantine_rows(include_resolved), ensure_ascii=False)
            return
        # The table's column widths need every row first.
        rows = list(quarantine_rows(include_resolved))
        if not rows:
            self.stdout.write("Nothing in quarantine.")
            return
        mailbox_width = max(len("MAILBOX"), *(len(row["mailbox"]) for row in rows))
        self.stdout.write(
            f"{'ID':>6}  {'WHEN':<25}  {'MAILBOX':<{mailbox_width}}  {'STATUS':<8}  "
            f"{'TRIES':>5}  ERROR"
        )
        for row in rows:
            self.stdout.write(
                f"{row['id']:>6}  {row['when']:<25}  {row['mailbox']:<{mailbox_width}}  "
                f"{row['status']:<8}  {row['attempts']:>5}  {row['error']}"
            )

    def _kept(self, reason: str, as_json: bool) -> None:
        rows = kept_rows(reason)
        if as_json:
            write_json_array(self.stdout, rows, ensure_ascii=False)
            return
        if not rows:
            self.stdout.write("No kept mail.")
            return
        for row in rows:
            self.stdout.write(
                f"{row['when']}  {row['mailbox']}  {row['from']}  <{row['message_id']}>  "
                f"{row['reason']}"
            )

    def _retry(self, ids: list[int], everything: bool) -> None:
        # The pipeline loads only to run mail through it, not to list the quarantine.
        from deskmail.ingest.quarantine import retry

        if bool(ids) == everything:
            raise CommandError("give either quarantine IDs or --all")
        if everything:
            items = list(QuarantinedMessage.objects.filter(status__in=WAITING).order_by("id"))
        else:
            found = {item.id: item for item in QuarantinedMessage.objects.filter(id__in=ids)}
            missing = [str(number) for number in ids if number not in found]
            if missing:
                raise CommandError(f"no quarantined message with ID {', '.join(missing)}")
            items = [found[number] for number in ids]
        stored = still_failing = 0
        for item in items:
            if item.status == QuarantinedMessage.Status.RESOLVED:
                self.stdout.write(f"{item.id}: already resolved")
                continue
            result = retry(item)
            item.refresh_from_db()
            if item.status == QuarantinedMessage.Status.RESOLVED:
                stored += 1
                self.stdout.write(f"{item.id}: {_outcome(result)}")
            else:
                still_failing += 1
                self.stdout.write(f"{item.id}: still failing: {first_line(item.error)}")
        total = stored + still_failing
        self.stdout.write(f"Retried {total}: {stored} stored, {still_failing} still failing.")
        if still_failing and not stored:
            raise CommandError("no quarantined message could be stored")


def _outcome(result: Any) -> str:
    outcome = getattr(result, "outcome", None)
    return str(outcome).replace("_", " ") if outcome else "stored"
