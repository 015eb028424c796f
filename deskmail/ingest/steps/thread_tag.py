"""Find the ticket by our subject tag `[KEY#N]`; a stranger quoting it opens a linked ticket."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.mail.domains import same_organisation
from deskmail.mail.subjects import find_tag
from deskmail.tickets.models import Ticket

name = "thread_tag"


def may_join(ticket: Ticket, sender: str, ours: frozenset[str]) -> tuple[bool, str]:
    """We, a participant, or a sender from the contact's own (not freemail) domain may join."""
    if not sender:
        return False, "no sender"
    if sender in ours:
        return True, f"{sender} is our own address"
    if sender in ticket.participants or (ticket.contact and ticket.contact.address == sender):
        return True, f"{sender} is a participant"
    if ticket.contact is not None and same_organisation(ticket.contact.address, sender):
        return True, f"{sender} is from the contact's domain {ticket.contact.domain}"
    return False, f"{sender} is neither a participant nor from the contact's domain"


def run(ctx: Context) -> Decision:
    if ctx.ticket is not None or ctx.linked_from is not None:
        return Decision(name, Verdict.SKIP, "ticket already found")
    if not ctx.settings.threading.subject_tag:
        return Decision(name, Verdict.SKIP, "subject tags are off for this mailbox")
    key = ctx.mailbox.key
    number = find_tag(ctx.parsed.subject, key)
    if number is None:
        return Decision(name, Verdict.MISS, f"no [{key}#…] tag in the subject")
    ticket = ctx.store.ticket_by_number(number, ctx.mailbox)
    if ticket is None:
        return Decision(name, Verdict.MISS, f"tag [{key}#{number}] names no ticket of this mailbox")
    allowed, why = may_join(ticket, ctx.sender, ctx.own_addresses)
    if allowed:
        ctx.ticket = ticket
        return Decision(name, Verdict.HIT, f"tag [{key}#{number}]; {why}", {"number": number})
    ctx.linked_from = ticket
    ctx.link_reason = f"quoted the tag of #{number}"
    return Decision(
        name,
        Verdict.LINKED,
        f"tag [{key}#{number}], but {why}: a new ticket linked to #{number}",
        {"number": number},
    )
