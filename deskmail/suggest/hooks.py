"""Keeping the index in step: a ticket resolved, a canned answer written or removed.

Signals, run after the commit of the change, so a rolled-back resolution never
reaches the index. A failure here never fails the change itself: it is logged,
and `deskmail suggestions reindex` puts the index right.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from deskmail.outbound.models import CannedAnswer
from deskmail.tickets.models import Ticket

log = logging.getLogger(__name__)


def _safely(job: Any, pk: int) -> None:
    try:
        job(pk)
    except Exception:
        log.exception("suggestion index: %s(%s) failed", job.__name__, pk)


def _ticket_saved(sender: Any, instance: Ticket, **kwargs: Any) -> None:
    # The index (and its encoder, numpy) loads on the first change it hears of, not at
    # start: a command that changes nothing never pays for it.
    from deskmail.suggest import index

    if instance.is_closed:
        pk = instance.pk
        transaction.on_commit(lambda: _safely(index.index_ticket, pk))


def _canned_saved(sender: Any, instance: CannedAnswer, **kwargs: Any) -> None:
    from deskmail.suggest import index

    pk = instance.pk
    transaction.on_commit(lambda: _safely(index.index_canned, pk))


def connect() -> None:
    post_save.connect(_ticket_saved, sender=Ticket, dispatch_uid="suggest-ticket")
    post_save.connect(_canned_saved, sender=CannedAnswer, dispatch_uid="suggest-canned")
