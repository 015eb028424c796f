"""Who a reply goes to, and the addresses we never mail (our own: a loop)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import getaddresses

from deskmail.mailboxes.directory import directory
from deskmail.tickets.models import Message, Ticket


@dataclass
class Recipients:
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return [*self.to, *self.cc]


def own_addresses() -> frozenset[str]:
    """Every address and alias of every mailbox: mail to them would come back to us."""
    return directory().own


def clean(
    addresses: Iterable[str],
    *,
    exclude: Iterable[str] = (),
    ours: frozenset[str] | None = None,
) -> list[str]:
    """Bare, lower-cased, unique addresses; ours and those in exclude are dropped."""
    ours = own_addresses() if ours is None else ours
    skip = {a.lower() for a in exclude}
    out: list[str] = []
    for _, address in getaddresses(list(addresses)):
        address = address.strip().lower()
        if "@" not in address or address in ours or address in skip or address in out:
            continue
        out.append(address)
    return out


def suggested(ticket: Ticket, ours: frozenset[str] | None = None) -> Recipients:
    """To: the ticket's contact (its first sender). Cc: the latest other sender and the
    Cc of the latest mail from the customer's side, for the agent to keep or drop."""
    to = ticket.reply_to or (ticket.contact.address if ticket.contact else "")
    latest = (
        ticket.messages.filter(direction=Message.Direction.IN, excluded=False)
        .order_by("-received_at", "-id")
        .first()
    )
    cc_candidates = [*ticket.reply_cc]
    if latest is not None:
        cc_candidates += [*latest.to, *latest.cc]
    ours = own_addresses() if ours is None else ours
    to_list = clean([to], ours=ours) if to else []
    return Recipients(to=to_list, cc=clean(cc_candidates, exclude=to_list, ours=ours))
