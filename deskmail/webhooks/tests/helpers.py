"""Shared setup for the webhook tests: endpoints, tickets that make events."""

from __future__ import annotations

from typing import Any

from deskmail.ingest.api import ingest
from deskmail.services import webhooks
from deskmail.services.access import SYSTEM
from deskmail.testing.builders import make_email
from deskmail.tickets.models import Ticket
from deskmail.webhooks.models import Endpoint

SECRET = "whsec_test_secret_0123456789"


def endpoint(url: str, **options: Any) -> Endpoint:
    options.setdefault("allow_private_addresses", True)
    options.setdefault("secret", SECRET)
    return webhooks.create(SYSTEM, url, **options)[0]


def ticket(mailbox: Any, subject: str = "Printer broken", **mail: Any) -> Ticket:
    mail.setdefault("to", mailbox.address)
    result = ingest(mailbox, make_email(subject=subject, **mail))
    assert result.ticket is not None
    return Ticket.objects.get(pk=result.ticket.pk)
