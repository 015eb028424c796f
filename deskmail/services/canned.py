"""Canned answers: who sees them, who writes them, and one filled in for a ticket.

Everyone sees the global answers and those of the mailboxes they work in; a
reply may use an answer of its ticket's mailbox or a global one. Writing them
is configuration, so it is for admins (their text is a template).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template import TemplateSyntaxError, engines

from deskmail.outbound.canned import canned_answers_for, render_canned
from deskmail.outbound.models import CannedAnswer
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import Ticket


def answers(actor: Actor, mailbox: str | None = None) -> list[CannedAnswer]:
    """For one mailbox: what an agent may pick there (its own first, then the global ones).
    Without: every answer the actor sees."""
    if mailbox is not None:
        return canned_answers_for(access.mailbox(actor, mailbox))
    query = Q(mailbox__isnull=True) | actor.mailbox_q("mailbox")
    if actor.is_admin:
        query = Q()
    return list(CannedAnswer.objects.filter(query).select_related("mailbox").order_by("name", "id"))


def answer(actor: Actor, pk: int) -> CannedAnswer:
    found = CannedAnswer.objects.select_related("mailbox").filter(pk=pk).first()
    if found is None or (found.mailbox_id is not None and not actor.sees(found.mailbox_id)):
        raise NotFound(f"no canned answer {pk}")
    return found


def _checked(name: str, body: str) -> tuple[str, str]:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise Invalid("a canned answer's name has 1 to 200 characters", field="name")
    if not body.strip():
        raise Invalid("a canned answer needs a text", field="body")
    try:
        engines["django"].from_string(body)
    except TemplateSyntaxError as exc:
        raise Invalid(f"the text is not a valid template: {exc}", field="body") from None
    return name, body


def _saved(row: CannedAnswer) -> CannedAnswer:
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        where = f"mailbox {row.mailbox.name}" if row.mailbox else "the global answers"
        raise Invalid(f"{where} already has an answer named {row.name!r}", field="name") from None
    return row


def create(actor: Actor, *, name: str, body: str, mailbox: str | None = None) -> CannedAnswer:
    access.require_admin(actor)
    box = access.mailbox(actor, mailbox) if mailbox is not None else None
    name, body = _checked(name, body)
    return _saved(CannedAnswer(mailbox=box, name=name, body=body))


def update(
    actor: Actor, pk: int, *, name: str | None = None, body: str | None = None
) -> CannedAnswer:
    row = answer(actor, pk)
    access.require_admin(actor)
    row.name, row.body = _checked(name if name is not None else row.name, body or row.body)
    return _saved(row)


def delete(actor: Actor, pk: int) -> None:
    row = answer(actor, pk)
    access.require_admin(actor)
    row.delete()


def text_for(actor: Actor, ticket: Ticket, pk: int) -> str:
    """The answer's text filled in for this ticket, if it may be used there."""
    allowed = {row.pk: row for row in canned_answers_for(ticket.mailbox)}
    if pk not in allowed:
        raise Invalid(
            f"no canned answer {pk} for mailbox {ticket.mailbox.name}", field="canned_answer"
        )
    return render_canned(allowed[pk], ticket, agent=access.user_of(actor))
