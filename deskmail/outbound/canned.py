"""Canned answers: global ones and a mailbox's own, rendered with the template variables."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import CannedAnswer
from deskmail.outbound.rendering import render_string, variables
from deskmail.tickets.models import Ticket


def canned_answers_for(mailbox: Mailbox | None) -> list[CannedAnswer]:
    """The answers an agent may pick for mail of mailbox: its own first, then the global ones.

    A mailbox's answer hides a global one of the same name.
    """
    query = Q(mailbox__isnull=True)
    if mailbox is not None:
        query |= Q(mailbox=mailbox)
    answers = list(CannedAnswer.objects.filter(query).order_by("name", "id"))
    local = [a for a in answers if a.mailbox_id is not None]
    names = {a.name for a in local}
    return local + [a for a in answers if a.mailbox_id is None and a.name not in names]


def render_canned(answer: CannedAnswer, ticket: Ticket, agent: Any = None) -> str:
    """The answer's text with the ticket's, contact's, agent's and mailbox's values filled in.

    Rendered without HTML escaping: the result is what the agent's reply says,
    and the reply is escaped (or sanitised) when the mail is built.
    """
    source = "{% autoescape off %}" + answer.body + "{% endautoescape %}"
    return render_string(source, variables(ticket, ticket.mailbox, agent))
