"""The installation's signed Message-IDs (`deskmail.mail.tokens`), keyed by SECRET_KEY."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from django.conf import settings

from deskmail.mail.tokens import MessageIdTokens


@functools.cache
def _tokens(secret: str) -> MessageIdTokens:
    return MessageIdTokens(secret)


def tokens() -> MessageIdTokens:
    return _tokens(settings.SECRET_KEY)


def new_message_id(ticket_number: int, mailbox_address: str) -> str:
    """A fresh Message-ID (no angle brackets) in the mailbox's domain, naming the ticket."""
    return tokens().new_message_id(ticket_number, mailbox_address)


def ticket_from_token(message_id: str) -> int | None:
    """The ticket number our signed Message-ID names, or None (not ours, or forged)."""
    return tokens().ticket_of(message_id)


def ticket_from_references(message_ids: Iterable[str]) -> int | None:
    """The ticket named by the newest of our tokens among message_ids (References order)."""
    return tokens().ticket_of_references(message_ids)


def new_task_message_id(task_id: int, mailbox_address: str) -> str:
    """A fresh Message-ID (no angle brackets) in the mailbox's domain, naming the task."""
    return tokens().new_task_message_id(task_id, mailbox_address)


def task_from_references(message_ids: Iterable[str]) -> int | None:
    """The task named by the newest of our task tokens among message_ids, or None."""
    return tokens().task_of_references(message_ids)
