"""Actions on many tickets at once (the list's "select many"), each checked one by one.

A ticket the actor may not see is skipped exactly like one that does not exist,
and the result says how many were done, so the console can say so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction

from deskmail.services import access, actions, people
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import Ticket


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    def summary(self, verb: str) -> str:
        text = f"{verb} {len(self.done)} ticket{'s' * (len(self.done) != 1)}"
        if self.skipped:
            text += (
                f"; {len(self.skipped)} skipped ({'; '.join(sorted(set(self.skipped.values())))})"
            )
        return text + "."


def visible(actor: Actor, numbers: Iterable[int]) -> list[Ticket]:
    """The tickets of these numbers that the actor may see, in the order given."""
    wanted = list(dict.fromkeys(numbers))
    found = {t.number: t for t in access.tickets(actor).filter(number__in=wanted)}
    return [found[n] for n in wanted if n in found]


def apply(actor: Actor, numbers: Iterable[int], action: str, value: str = "") -> BulkResult:
    """assign (a user id or "none"), status (a status), tag (a name) or delete."""
    result = BulkResult()
    wanted = list(dict.fromkeys(numbers))
    tickets = visible(actor, wanted)
    missing = set(wanted) - {t.number for t in tickets}
    for number in sorted(missing):
        result.skipped[number] = "not found"
    if action == "assign":
        assignee = None if value == "none" else int(value)
    for ticket in tickets:
        try:
            with transaction.atomic():
                if action == "assign":
                    actions.assign(actor, ticket, assignee)
                elif action == "status":
                    actions.set_status(actor, ticket, value)
                elif action == "tag":
                    actions.set_tags(actor, ticket, add=[value])
                elif action == "delete":
                    actions.delete(actor, ticket)
                else:
                    raise Invalid(f"no bulk action {action!r}", field="action")
        except NotFound:
            result.skipped[ticket.number] = "not found"
        except Invalid as exc:
            if exc.field == "action":
                raise
            result.skipped[ticket.number] = str(exc)
        else:
            result.done.append(ticket.number)
    return result


# -- CSV ------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "number",
    "subject",
    "status",
    "priority",
    "mailbox",
    "queue",
    "type",
    "assignee",
    "contact",
    "tags",
    "created",
    "last_activity",
]


def _cell(value: object) -> str:
    """A spreadsheet never runs a cell as a formula (CSV injection, OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(actor: Actor, numbers: Iterable[int]) -> Iterator[str]:
    """The selected tickets the actor may see, as CSV lines (a header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row: list[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in row])
        return buffer.getvalue()

    yield line(list(CSV_COLUMNS))
    wanted = list(dict.fromkeys(numbers))
    rows = {
        t.number: t
        for t in access.tickets(actor)
        .filter(number__in=wanted)
        .select_related("mailbox", "queue", "type", "assignee", "contact")
        .prefetch_related("tags")
    }
    for number in wanted:
        ticket = rows.get(number)
        if ticket is None:
            continue
        yield line(
            [
                ticket.number,
                ticket.title,
                ticket.status,
                ticket.priority,
                ticket.mailbox.name,
                ticket.queue.name if ticket.queue else "",
                ticket.type.name if ticket.type else "",
                people.display_name(ticket.assignee) if ticket.assignee else "",
                ticket.contact.address if ticket.contact else "",
                ", ".join(sorted(t.name for t in ticket.tags.all())),
                ticket.created_at.isoformat(timespec="seconds"),
                ticket.updated_at.isoformat(timespec="seconds"),
            ]
        )
