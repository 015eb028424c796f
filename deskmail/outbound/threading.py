"""In-Reply-To and References for our mail, chained from the ticket's messages.

References lists the ticket's thread oldest first, so that every mail client
threads our reply under the customer's mail, and so that the customer's next
reply names our Message-ID (and its ticket token) whatever their client keeps.
A long chain is trimmed the way RFC 5322 §3.6.4 suggests mail clients do:
keep the first ID (the thread's root) and the most recent ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from deskmail.tickets.models import Message, Ticket

MAX_REFERENCES = 20
MAX_REFERENCES_CHARS = 1000


def trim_references(
    ids: Iterable[str], max_ids: int = MAX_REFERENCES, max_chars: int = MAX_REFERENCES_CHARS
) -> list[str]:
    """Unique IDs in order; when too many or too long, the first one and the latest ones."""
    unique: list[str] = []
    for value in ids:
        if value and value not in unique:
            unique.append(value)
    if len(unique) <= max_ids and _length(unique) <= max_chars:
        return unique
    first, kept = unique[0], list[str]()
    for value in reversed(unique[1:]):
        if len(kept) + 2 > max_ids or _length([first, value, *kept]) > max_chars:
            break
        kept.insert(0, value)
    if not kept:
        return [unique[-1]]  # at least the direct parent
    return [first, *kept]


def _length(ids: list[str]) -> int:
    """Characters in a References value: "<id>" joined by single spaces."""
    return sum(len(value) + 2 for value in ids) + max(len(ids) - 1, 0)


def thread_messages(ticket: Ticket) -> list[Message]:
    """The ticket's mail in arrival order, without excluded or ID-less (synthetic) ones."""
    return list(
        ticket.messages.filter(excluded=False, synthetic_message_id=False)
        .only("message_id", "direction", "references", "received_at")
        .order_by("received_at", "id")
    )


def parent_of(messages: list[Message]) -> Message | None:
    """The mail a reply answers: the latest one from the customer's side, else the latest."""
    for message in reversed(messages):
        if message.direction == Message.Direction.IN:
            return message
    return messages[-1] if messages else None


def reply_headers(ticket: Ticket) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a new mail on the ticket; IDs without angle brackets."""
    messages = thread_messages(ticket)
    parent = parent_of(messages)
    if parent is None:
        return None, []
    chain = [*parent.references, *(m.message_id for m in messages)]
    # The parent closes the chain: it is the one being answered.
    chain = [value for value in chain if value != parent.message_id] + [parent.message_id]
    return parent.message_id, trim_references(chain)
