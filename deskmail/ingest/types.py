"""The typed values the pipeline decides with: outcomes, verdicts, why a message is a duplicate."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What became of one message."""

    NEW_TICKET = "new_ticket"
    APPENDED = "appended"
    # Already stored: another delivery of it is recorded, nothing else.
    DUPLICATE = "duplicate"
    # Stored and kept, but on no ticket's thread (a filter, a loop, a bounce note).
    EXCLUDED = "excluded"
    # A step failed, or it is not an email at all: kept raw in the quarantine.
    QUARANTINED = "quarantined"


class Verdict(StrEnum):
    """The short word of a step's decision; the reason beside it says why."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    HIT = "hit"
    MISS = "miss"
    SKIP = "skip"
    EXCLUDED = "excluded"
    DUPLICATE = "duplicate"
    DELIVERY = "delivery"
    LOOP = "loop"
    SYNTHETIC = "synthetic"
    BOUNCE = "bounce"
    KEPT = "kept"
    QUEUED = "queued"
    REOPENED = "reopened"
    NEW_TICKET = "new_ticket"
    NEW = "new"
    APPENDED = "appended"
    LINKED = "linked"
    MAPPED = "mapped"
    ROUTED = "routed"
    ASSIGNED = "assigned"
    MATCHED = "matched"
    INSIDE = "inside"
    OUTSIDE = "outside"
    STOPPED = "stopped"
    QUARANTINED = "quarantined"
    HELD = "held"
    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"


class Duplicate(StrEnum):
    """How a message was recognised as already stored."""

    # The very same delivery fetched again (same source position, same bytes).
    SAME_DELIVERY = "same_delivery"
    # Known by its Message-ID: another delivery of a stored message.
    SAME_MESSAGE = "same_message"


class NotAnEmail(Exception):
    """The bytes are no email at all: kept raw in the quarantine, never a ticket, never retried."""


class OverBudget(Exception):
    """Parsing the message took more time or memory than one message may: kept raw in the
    quarantine, never retried on its own."""
