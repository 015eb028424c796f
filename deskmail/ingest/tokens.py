"""The signed link that confirms a waiting ticket's sender (Django's signing, SECRET_KEY).

The token names the ticket and its one-time nonce; it is good while the ticket
waits, until its `confirm_by`, and once (confirming empties the nonce).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from deskmail.tickets.models import Ticket

SALT = "deskmail.confirm-sender"


def confirmation_token(ticket: Ticket) -> str:
    return signing.dumps({"t": ticket.number, "n": ticket.confirm_nonce}, salt=SALT)


def confirmation_link(ticket: Ticket) -> str | None:
    """The public link that confirms the ticket's sender; None without DESKMAIL_PUBLIC_URL."""
    base = settings.DESKMAIL_PUBLIC_URL
    if not base or not ticket.confirm_nonce:
        return None
    return f"{base}/confirm/{confirmation_token(ticket)}/"


def read_token(token: str) -> tuple[int, str] | None:
    """(ticket number, nonce) of a genuine token; None for anything else."""
    try:
        value = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict):
        return None
    number, nonce = value.get("t"), value.get("n")
    if not isinstance(number, int) or not isinstance(nonce, str) or not nonce:
        return None
    return number, nonce
