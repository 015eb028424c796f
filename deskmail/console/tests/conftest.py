"""The console's test world: the personas, and a ticket of North with everything on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from deskmail.ingest.api import ingest
from deskmail.outbound.models import OutboxItem
from deskmail.services import access, actions
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team
from deskmail.tickets.models import Attachment, Message, Ticket

# Nobody outside North may ever see this string, on any page.
NORTH_SECRET = "Northern-secret-8f3a"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rows ids repeat between tests (rolled back); cached counts must not."""
    cache.clear()


@dataclass
class World:
    team: Team
    ticket: Ticket
    message: Message
    attachment: Attachment
    outbox: OutboxItem
    south_ticket: Ticket

    def client(self, user: Any = None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client


def north_mail(team: Team, subject: str = f"Invoice {NORTH_SECRET}", **kwargs: Any) -> Ticket:
    kwargs.setdefault("to", team.north.address)
    result = ingest(team.north, make_email(subject=subject, **kwargs))
    assert result.ticket is not None, result.trace
    return Ticket.objects.get(pk=result.ticket.pk)


@pytest.fixture
def world(team: Team) -> World:
    ticket = north_mail(
        team,
        body=f"Please look at {NORTH_SECRET}.",
        attachments=[("scan.png", "image/png", PNG)],
    )
    message = ticket.messages.get()
    outbox = actions.reply(team.actor(team.nora), ticket, body_text="On it.")
    actions.note(team.actor(team.nora), ticket, f"Internal: {NORTH_SECRET}")
    south = ingest(team.south, make_email(to=team.south.address, subject="South's question"))
    assert south.ticket is not None
    return World(
        team=team,
        ticket=access.ticket(access.SYSTEM, ticket.number),
        message=message,
        attachment=message.attachments.get(),
        outbox=outbox,
        south_ticket=Ticket.objects.get(pk=south.ticket.pk),
    )
