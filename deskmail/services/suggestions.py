"""Suggested answers for a ticket: what the team wrote before, ranked for the latest question.

The console's composer and the API both ask here. A person gets at most three
answers for the ticket's latest customer message (its reply part: quotes and
signature removed), drawn only from resolved tickets of the mailboxes they may
see and from the canned answers usable in this ticket's mailbox. Nothing is ever
sent: an answer is put into the composer, or into the person's reply draft.

Suggestions are stored per person and keyed on the customer message they were
computed for, so feedback (👍/👎, inserted) attaches to what was shown, and once
a newer customer message arrives the older ones are never shown again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from deskmail.outbound.canned import render_canned
from deskmail.services import access, compose
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.suggest import index
from deskmail.suggest.models import Pair, Rewrite, Suggestion
from deskmail.suggest.rank import fused
from deskmail.tickets.models import Draft, Message, Ticket

SHOWN = 3
# Ranked before duplicates (the same answer given on many tickets) are folded.
CANDIDATES = 15
VOTES = ("up", "down")


@dataclass(frozen=True)
class Shown:
    """One suggestion as a person sees it."""

    id: int
    rank: int
    text: str
    score: float
    # "canned" or "ticket"; the source's words, e.g. "canned answer Refunds" or "ticket #12".
    source: str
    source_label: str
    # The solved ticket's number, only when the person may open it.
    ticket_number: int | None
    vote: str
    inserted: bool
    message_id: int


def enabled(ticket: Ticket) -> bool:
    """Whether the ticket's mailbox shows suggested answers (console.suggestions)."""
    return bool(ticket.mailbox.settings.console.suggestions)


def latest_question(ticket: Ticket) -> Message | None:
    """The customer's latest message on the ticket (not excluded, not automatic)."""
    return (
        ticket.messages.filter(
            direction=Message.Direction.IN, excluded=False, auto_submitted=False, bounce=False
        )
        .order_by("-received_at", "-id")
        .first()
    )


def visible_pairs(actor: Actor, ticket: Ticket) -> QuerySet[Pair]:
    """Pairs this person may be shown on this ticket: resolved tickets of mailboxes they
    see (never this ticket itself), and the canned answers usable in its mailbox."""
    solved = Q(ticket__isnull=False) & actor.mailbox_q("mailbox")
    canned = Q(canned__isnull=False) & (Q(mailbox__isnull=True) | Q(mailbox_id=ticket.mailbox_id))
    return Pair.objects.filter(solved | canned).exclude(ticket_id=ticket.pk)


def _compute(actor: Actor, user_id: int, ticket: Ticket, question: Message) -> None:
    hits = fused(index.text_of(question) or ticket.title, visible_pairs(actor, ticket), CANDIDATES)
    pairs = Pair.objects.select_related("canned").in_bulk([hit.pair_id for hit in hits])
    agent = access.user_of(actor)
    rows: list[Suggestion] = []
    seen: set[str] = set()
    for hit in hits:
        pair = pairs.get(hit.pair_id)
        if pair is None:
            continue
        text = render_canned(pair.canned, ticket, agent) if pair.canned else pair.answer
        key = " ".join(text.casefold().split())
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            Suggestion(
                ticket=ticket,
                message=question,
                user_id=user_id,
                pair=pair,
                rank=len(rows) + 1,
                score=hit.score,
                text=text,
            )
        )
        if len(rows) == SHOWN:
            break
    # Two requests at once compute the same rows; the first one's stay.
    Suggestion.objects.bulk_create(rows, ignore_conflicts=True)


def _shown(actor: Actor, row: Suggestion) -> Shown:
    pair = row.pair
    if pair is not None and pair.canned is not None:
        source, label, number = "canned", f"canned answer {pair.canned.name}", None
    elif pair is not None and pair.ticket is not None:
        number = pair.ticket.number
        source, label = "ticket", f"ticket #{number}"
        if not actor.sees(pair.ticket.mailbox_id):
            number = None
    else:
        source, label, number = "removed", "no longer in the index", None
    return Shown(
        id=row.pk,
        rank=row.rank,
        text=row.text,
        score=row.score,
        source=source,
        source_label=label,
        ticket_number=number,
        vote=row.vote,
        inserted=row.inserted_at is not None,
        message_id=row.message_id,
    )


def for_ticket(actor: Actor, ticket: Ticket) -> list[Shown]:
    """The top suggestions for the ticket's latest customer message, best first.

    Empty when the mailbox has them switched off, when no customer wrote yet, or for
    the system (suggestions and their feedback belong to a person).
    """
    if not actor.sees(ticket.mailbox_id):
        raise NotFound(f"no ticket #{ticket.number}")
    question = latest_question(ticket)
    user_id = actor.user_id
    if user_id is None or question is None or not enabled(ticket):
        return []
    mine = Suggestion.objects.filter(ticket=ticket, message=question, user_id=user_id)
    if not mine.exists():
        _compute(actor, user_id, ticket, question)
    rows = mine.select_related("pair__canned", "pair__ticket").order_by("rank", "id")
    return [_shown(actor, row) for row in rows]


def suggestion(actor: Actor, ticket: Ticket, pk: int) -> Suggestion:
    """One of this person's suggestions on the ticket; NotFound for anything else."""
    if not actor.sees(ticket.mailbox_id) or actor.user_id is None:
        raise NotFound(f"no ticket #{ticket.number}")
    found = Suggestion.objects.filter(pk=pk, ticket=ticket, user_id=actor.user_id).first()
    if found is None:
        raise NotFound(f"no suggestion {pk} on ticket #{ticket.number}")
    return found


def feedback(
    actor: Actor, ticket: Ticket, pk: int, *, vote: str | None = None, inserted: bool = False
) -> Shown:
    """Record 👍/👎 ("up"/"down", "" to take it back) and/or that it was inserted."""
    row = suggestion(actor, ticket, pk)
    if vote is not None and vote not in (*VOTES, ""):
        raise Invalid(f"a vote is one of {', '.join(VOTES)}, or empty", field="vote")
    fields = []
    if vote is not None:
        row.vote = vote
        fields.append("vote")
    if inserted and row.inserted_at is None:
        row.inserted_at = timezone.now()
        fields.append("inserted_at")
    if fields:
        row.save(update_fields=fields)
    row = Suggestion.objects.select_related("pair__canned", "pair__ticket").get(pk=row.pk)
    return _shown(actor, row)


def insert(actor: Actor, ticket: Ticket, pk: int) -> str:
    """The suggestion's text to put into the composer (recorded as inserted)."""
    access.require_act_on(actor, ticket)
    row = suggestion(actor, ticket, pk)
    latest = latest_question(ticket)
    if latest is None or row.message_id != latest.pk:
        raise Invalid(
            "the customer wrote again since this was suggested: see the new suggestions",
            field="suggestion",
        )
    return feedback(actor, ticket, pk, inserted=True).text


def appended(body: str, text: str) -> str:
    """What the composer holds after an insert: what was written, then the answer."""
    return (body.rstrip() + "\n\n" + text).strip() if body.strip() else text


def insert_as_draft(
    actor: Actor,
    ticket: Ticket,
    pk: int,
    *,
    to: str | None = None,
    cc: str | None = None,
    body: str | None = None,
) -> Draft | None:
    """Append the suggestion to the person's reply draft (saved through the drafts).

    `to`, `cc` and `body` are what the composer holds now, when it is open; else the
    saved draft's, else the recipients rules' defaults and an empty text.
    """
    return append_to_draft(actor, ticket, insert(actor, ticket, pk), to=to, cc=cc, body=body)


def append_to_draft(
    actor: Actor,
    ticket: Ticket,
    text: str,
    *,
    to: str | None = None,
    cc: str | None = None,
    body: str | None = None,
) -> Draft | None:
    """Append `text` to the person's reply draft; `to`, `cc`, `body` as for insert_as_draft."""
    draft = compose.draft_for(actor, ticket, Draft.Kind.REPLY)
    defaults = compose.recipients(ticket)
    if to is None:
        to = draft.to if draft else ", ".join(defaults.to)
    if cc is None:
        cc = draft.cc if draft else ", ".join(defaults.cc)
    if body is None:
        body = draft.body if draft else ""
    return compose.save_draft(
        actor, ticket, Draft.Kind.REPLY, to=to, cc=cc, body=appended(body, text)
    )


# -- the index, for the operator ------------------------------------------------------------


def reindex(actor: Actor) -> Iterator[tuple[int, int]]:
    """Rebuild the index from scratch; yields (done, total) as it goes."""
    access.require_admin(actor)
    yield from index.reindex()


@dataclass(frozen=True)
class Report:
    pairs_from_tickets: int
    pairs_from_canned: int
    questions: int  # customer messages someone was shown suggestions for
    shown: int
    inserted: int
    questions_inserted: int
    top1_inserted: int
    up: int
    down: int
    # Rewrites by the generation server: asked for, failed, inserted.
    rewrites: int = 0
    rewrites_failed: int = 0
    rewrites_inserted: int = 0

    def rate(self, part: int, whole: int) -> float:
        return round(part / whole, 3) if whole else 0.0


def report(actor: Actor) -> Report:
    """How suggestions did: how often one was inserted (at all, and the first), and votes."""
    access.require_admin(actor)
    rows = Suggestion.objects.all()
    asked = rows.values("ticket_id", "message_id", "user_id").distinct().count()
    inserted = rows.filter(inserted_at__isnull=False)
    return Report(
        pairs_from_tickets=Pair.objects.filter(ticket__isnull=False).count(),
        pairs_from_canned=Pair.objects.filter(canned__isnull=False).count(),
        questions=asked,
        shown=rows.count(),
        inserted=inserted.count(),
        questions_inserted=inserted.values("ticket_id", "message_id", "user_id").distinct().count(),
        top1_inserted=inserted.filter(rank=1).count(),
        up=rows.filter(vote=Suggestion.Vote.UP).count(),
        down=rows.filter(vote=Suggestion.Vote.DOWN).count(),
        rewrites=Rewrite.objects.count(),
        rewrites_failed=Rewrite.objects.exclude(error="").count(),
        rewrites_inserted=Rewrite.objects.filter(inserted_at__isnull=False).count(),
    )
