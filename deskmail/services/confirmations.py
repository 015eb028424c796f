"""A new sender confirms from the public link in our confirmation mail.

Anyone holding the link may use it (it is the proof): it names one waiting
ticket, is signed with the installation's secret, works once and expires with
the ticket's `confirm_by`. Opening it (GET) only shows the question; the button
(POST) confirms, so that a mail scanner that follows links confirms nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from deskmail.ingest.confirmation import Unconfirmable, confirm_link, expire_unconfirmed
from deskmail.ingest.tokens import read_token
from deskmail.services.errors import Invalid
from deskmail.tickets.models import Ticket

__all__ = ["Waiting", "confirm", "expire_unconfirmed", "waiting"]


@dataclass(frozen=True)
class Waiting:
    """What the page may show about the ticket a link names: the mailbox, not the mail."""

    mailbox: str


def _display_name(ticket: Ticket) -> str:
    return ticket.mailbox.settings.display_name or ticket.mailbox.name


def waiting(token: str) -> Waiting:
    """The ticket the link would confirm; Invalid (in words for the sender) when none."""
    found = read_token(token)
    ticket = None
    if found is not None:
        ticket = Ticket.objects.select_related("mailbox").filter(number=found[0]).first()
    if ticket is None or found is None:
        raise Invalid("This link is not one of ours.", field="token")
    if ticket.confirmation != Ticket.Confirmation.AWAITING or ticket.confirm_nonce != found[1]:
        raise Invalid("This link was used already.", field="token")
    if ticket.confirm_by is not None and ticket.confirm_by <= timezone.now():
        raise Invalid("This link has expired.", field="token")
    return Waiting(_display_name(ticket))


def confirm(token: str) -> Waiting:
    """Confirm the sender: the ticket opens for the team. Invalid says why not."""
    try:
        ticket = confirm_link(token)
    except Unconfirmable as exc:
        raise Invalid(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", field="token") from None
    return Waiting(_display_name(ticket))
