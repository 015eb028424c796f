"""Building the index: the pair a resolved ticket yields, a canned answer's pair, all of them."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import transaction

from deskmail.outbound.models import CannedAnswer
from deskmail.suggest import encoder, memory
from deskmail.suggest.models import Pair, Term
from deskmail.suggest.text import term_counts
from deskmail.tickets.models import Message, Ticket


def text_of(message: Message) -> str:
    """What a person wrote in a message: its reply part, else the whole text."""
    return (message.reply_text or message.body_text or "").strip()


def exchange(ticket: Ticket) -> tuple[Message, Message] | None:
    """The customer's last message before the agent's reply that preceded resolution."""
    messages = list(
        ticket.messages.filter(excluded=False, bounce=False).order_by("received_at", "id")
    )
    for at in range(len(messages) - 1, -1, -1):
        answer = messages[at]
        if answer.direction != Message.Direction.OUT or not text_of(answer):
            continue
        for question in reversed(messages[:at]):
            if (
                question.direction == Message.Direction.IN
                and not question.auto_submitted
                and text_of(question)
            ):
                return question, answer
        return None
    return None


def _store(pair: Pair, question: str, answer: str, embed: bool) -> Pair:
    counts = term_counts(question)
    pair.question, pair.answer, pair.length = question, answer, sum(counts.values())
    model = encoder.get() if embed else None
    pair.vector = encoder.to_bytes(model.encode([question])[0]) if model else None
    with transaction.atomic():
        pair.save()
        Term.objects.filter(pair=pair).delete()
        Term.objects.bulk_create(
            Term(pair=pair, term=term, count=count) for term, count in counts.items()
        )
    if embed:  # the rebuild puts its batch's vectors in at once
        memory.put([pair])
    return pair


def index_ticket(pk: int, embed: bool = True) -> Pair | None:
    """Index a resolved (or closed) ticket's exchange; None when it has none.

    With `embed`, the question's sentence vector too (when the model is installed)."""
    ticket = Ticket.objects.filter(pk=pk).first()
    if ticket is None or not ticket.is_closed or ticket.merged_into_id is not None:
        return None
    found = exchange(ticket)
    if found is None:
        Pair.objects.filter(ticket_id=pk).delete()
        return None
    question, answer = found
    pair = Pair.objects.filter(ticket_id=pk).first() or Pair(ticket=ticket)
    pair.mailbox_id = ticket.mailbox_id
    return _store(pair, f"{ticket.title}\n{text_of(question)}", text_of(answer), embed)


def index_canned(pk: int, embed: bool = True) -> Pair | None:
    """Index a canned answer: its name is the question it answers, its text the answer."""
    row = CannedAnswer.objects.filter(pk=pk).first()
    if row is None:
        return None
    pair = Pair.objects.filter(canned_id=pk).first() or Pair(canned=row)
    pair.mailbox_id = row.mailbox_id
    return _store(pair, f"{row.name}\n{row.body}", row.body, embed)


def sources() -> tuple[list[int], list[int]]:
    """What a full reindex covers: closed tickets (not merged away) and canned answers."""
    tickets = Ticket.objects.filter(
        status__in=[Ticket.Status.RESOLVED, Ticket.Status.CLOSED], merged_into__isnull=True
    )
    return (
        list(tickets.order_by("id").values_list("id", flat=True)),
        list(CannedAnswer.objects.order_by("id").values_list("id", flat=True)),
    )


def reindex(batch: int = 200) -> Iterator[tuple[int, int]]:
    """Rebuild every pair; yields (done, total) after each batch. Pairs whose source
    no longer yields one are removed; feedback on shown suggestions is kept.

    One transaction per batch: a commit per pair would make a large history slow; the
    batch's sentence vectors are computed together, which is about twice as fast."""
    tickets, canned = sources()
    jobs = [(index_ticket, pk) for pk in tickets] + [(index_canned, pk) for pk in canned]
    kept: set[int] = set()
    model = encoder.get()
    for start in range(0, len(jobs), batch):
        with transaction.atomic():
            done = [job(pk, False) for job, pk in jobs[start : start + batch]]
            stored = [pair for pair in done if pair is not None]
            kept.update(pair.pk for pair in stored)
            if model is not None and stored:
                vectors = model.encode([pair.question for pair in stored])
                for pair, vector in zip(stored, vectors, strict=True):
                    pair.vector = encoder.to_bytes(vector)
                Pair.objects.bulk_update(stored, ["vector"])
            memory.put(stored)
        yield min(start + batch, len(jobs)), len(jobs)
    Pair.objects.exclude(pk__in=kept).delete()
    memory.forget()
