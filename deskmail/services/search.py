"""Finding tickets: full-text search over their mail, and advanced conditions.

Full text covers every message's subject, sender (name and address) and body.
PostgreSQL answers from a GIN index on a stored tsvector column, SQLite from
an FTS5 table kept in step by triggers (both made by the tickets migration
0005_message_fulltext). Each word the person types must occur; a word matches
as a prefix too, so "print" finds "printer".

Advanced search is a list of conditions (field, operator, value), each of
which may be switched off without removing it, joined by "all" or "any":

    where = conditions_q(actor, [Condition("subject", "contains", "invoice"),
                                 Condition("created", "after", "2026-01-01")], match="any")
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from deskmail.services.errors import Invalid
from deskmail.tickets.models import Message, Ticket

_WORD = re.compile(r"[\w@.+'-]+", re.UNICODE)
MAX_WORDS = 12


def words(text: str) -> list[str]:
    """The words of a search, without the characters query syntaxes would read."""
    found = [w.strip(".'-") for w in _WORD.findall(text)]
    return [w for w in found if w][:MAX_WORDS]


def _pg_query(terms: list[str]) -> str:
    # to_tsquery syntax: every term quoted (a quote doubled), as a prefix, all required.
    return " & ".join("'" + t.replace("'", "''").lower() + "':*" for t in terms)


def _fts5_query(terms: list[str]) -> str:
    # FTS5 syntax: each term a quoted phrase ('"' doubled), as a prefix; juxtaposed = AND.
    return " ".join('"' + t.replace('"', '""') + '"*' for t in terms)


def message_ids_matching(text: str) -> RawSQL | None:
    """A subquery of the ids of messages whose subject, sender or body hold every word."""
    terms = words(text)
    if not terms:
        return None
    if connection.vendor == "postgresql":
        sql = (
            "SELECT id FROM tickets_message "
            "WHERE search_document @@ to_tsquery('simple'::regconfig, %s)"
        )
        return RawSQL(sql, [_pg_query(terms)])  # noqa: S611 - the words are a parameter
    if connection.vendor == "sqlite":
        sql = "SELECT rowid FROM tickets_message_fts WHERE tickets_message_fts MATCH %s"
        return RawSQL(sql, [_fts5_query(terms)])  # noqa: S611 - the words are a parameter
    raise Invalid(f"full-text search is not available on {connection.vendor}")


def fulltext_q(text: str) -> Q:
    """Tickets with at least one message matching every word.

    Driven from the index: the matching messages' tickets, as a set, rather than a
    lookup per ticket (which would scan every ticket for a rare word).
    """
    ids = message_ids_matching(text)
    if ids is None:
        return Q()
    return Q(pk__in=Message.objects.filter(id__in=ids).values("ticket_id"))


# -- advanced conditions ----------------------------------------------------------------

TEXT_OPERATORS = ("equals", "not_equals", "contains", "starts_with", "ends_with", "is_empty")
CHOICE_OPERATORS = ("equals", "not_equals", "is_empty")
DATE_OPERATORS = ("before", "after", "equals", "is_empty")
OPERATOR_LABELS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "before": "before",
    "after": "after",
    "is_empty": "is empty",
}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text | choice | date | number
    lookup: str  # the ORM path
    operators: tuple[str, ...]


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("subject", "Subject", "text", "title", TEXT_OPERATORS),
        Field("sender", "Sender", "text", "contact__address", TEXT_OPERATORS),
        Field("sender_name", "Sender name", "text", "contact__name", TEXT_OPERATORS),
        Field("text", "Text of any message", "text", "messages__body_text", TEXT_OPERATORS),
        Field("status", "Status", "choice", "status", CHOICE_OPERATORS),
        Field("priority", "Priority", "choice", "priority", CHOICE_OPERATORS),
        Field("mailbox", "Mailbox", "choice", "mailbox__name", CHOICE_OPERATORS),
        Field("queue", "Queue", "choice", "queue__name", CHOICE_OPERATORS),
        Field("type", "Type", "choice", "type__name", CHOICE_OPERATORS),
        Field("assignee", "Agent", "text", "assignee__email", TEXT_OPERATORS),
        Field("tag", "Tag", "text", "tags__name", TEXT_OPERATORS),
        Field("created", "Created", "date", "created_at", DATE_OPERATORS),
        Field("updated", "Last activity", "date", "updated_at", DATE_OPERATORS),
        Field("number", "Number", "number", "number", ("equals", "not_equals")),
    )
}


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: str = ""
    enabled: bool = True

    def describe(self) -> str:
        field = FIELDS[self.field].label if self.field in FIELDS else self.field
        words = f"{field} {OPERATOR_LABELS.get(self.operator, self.operator)}"
        return words if self.operator == "is_empty" else f"{words} {self.value!r}"


def _day(value: str) -> tuple[dt.datetime, dt.datetime]:
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{value!r} is not a date like 2026-03-31", field="value") from None
    start = dt.datetime.combine(day, dt.time(), tzinfo=timezone.get_current_timezone())
    return start, start + dt.timedelta(days=1)


def _having(inner: Q) -> Q:
    """A condition on a to-many relation (messages, tags): as a subquery, so rows never repeat."""
    return Q(pk__in=Ticket.objects.filter(inner).values("pk"))


def _text_q(field: Field, operator: str, value: str) -> Q:
    path = field.lookup
    builders: dict[str, Callable[[], Q]] = {
        "equals": lambda: Q(**{f"{path}__iexact": value}),
        "not_equals": lambda: ~Q(**{f"{path}__iexact": value}),
        "contains": lambda: Q(**{f"{path}__icontains": value}),
        "starts_with": lambda: Q(**{f"{path}__istartswith": value}),
        "ends_with": lambda: Q(**{f"{path}__iendswith": value}),
    }
    return builders[operator]()


def condition_q(condition: Condition) -> Q:
    """One condition as a filter; Invalid names what is wrong with it."""
    field = FIELDS.get(condition.field)
    if field is None:
        raise Invalid(f"no field {condition.field!r} to search", field="field")
    if condition.operator not in field.operators:
        raise Invalid(
            f"{field.label} cannot be searched with {condition.operator!r}", field="operator"
        )
    value, path = condition.value.strip(), field.lookup
    many = path.startswith(("messages__", "tags__"))
    if condition.operator == "is_empty":
        if field.kind in ("date", "number"):
            return Q(**{f"{path}__isnull": True})
        if many:  # no related row with a value
            return ~_having(Q(**{f"{path}__isnull": False}) & ~Q(**{path: ""}))
        return Q(**{f"{path}__isnull": True}) | Q(**{path: ""})
    if not value:
        raise Invalid(f"{condition.describe()}: give a value", field="value")
    if field.kind == "date":
        start, end = _day(value)
        q = {
            "before": Q(**{f"{path}__lt": start}),
            "after": Q(**{f"{path}__gte": end}),
            "equals": Q(**{f"{path}__gte": start, f"{path}__lt": end}),
        }[condition.operator]
        return q
    if field.kind == "number":
        if not value.isdigit():
            raise Invalid(f"{value!r} is not a number", field="value")
        q = Q(**{path: int(value)})
        return q if condition.operator == "equals" else ~q
    if condition.operator == "not_equals":
        positive = _text_q(field, "equals", value)
        return ~_having(positive) if many else ~positive
    q = _text_q(field, condition.operator, value)
    return _having(q) if many else q


def conditions_q(conditions: Iterable[Condition], match: str = "all") -> Q:
    """The enabled conditions joined by AND ("all") or OR ("any"); no conditions: everything."""
    if match not in ("all", "any"):
        raise Invalid("match must be 'all' or 'any'", field="match")
    parts = [condition_q(c) for c in conditions if c.enabled]
    if not parts:
        return Q()
    return reduce(and_ if match == "all" else or_, parts)


def describe(conditions: Sequence[Condition], match: str) -> str:
    enabled = [c.describe() for c in conditions if c.enabled]
    return f" {'and' if match == 'all' else 'or'} ".join(enabled)
