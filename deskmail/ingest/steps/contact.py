"""The first sender (or, for our own mail, its To) is the contact; the rest are participants."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.lookups import own_addresses
from deskmail.ingest.trace import Decision
from deskmail.tickets.models import Contact

name = "contact"


def _known_contact(ctx: Context, sender: str) -> Contact | None:
    batch = ctx.cache.get("batch")
    if batch is not None and sender in batch.contacts:
        return batch.contacts[sender]
    return next(iter(Contact.objects.filter(address=sender).order_by()[:1]), None)


def run(ctx: Context) -> Decision:
    ticket = ctx.ticket
    if ticket is None:
        return Decision(name, "skip", "no ticket")
    sender, ours = ctx.sender, own_addresses(ctx)
    notes = []
    customer, customer_name = sender, ctx.parsed.from_name
    if sender in ours:
        # Our own mail opening a ticket (an agent wrote first): the customer is the To.
        first = next((a for a in ctx.parsed.to if a.address and a.address not in ours), None)
        customer, customer_name = (first.address, first.name) if first else ("", "")
    if ctx.new_ticket and customer:
        contact = _known_contact(ctx, customer)
        if contact is None and ctx.settings.tickets.create_contacts:
            contact = Contact.objects.create(address=customer, name=customer_name[:300])
            batch = ctx.cache.get("batch")
            if batch is not None:
                batch.contacts[customer] = contact
            notes.append(f"new contact {customer}")
        elif contact is None:
            notes.append(f"no contact for {customer} (create_contacts is off)")
        else:
            notes.append(f"contact {customer}")
        ticket.contact = contact
        ticket.reply_to = customer
    elif sender and sender not in ours and sender != ticket.reply_to:
        ticket.reply_cc = [sender]
        notes.append(f"{sender} joins the reply Cc")
    participants = list(ticket.participants)
    added = []
    everyone = [sender, *(a.address for a in ctx.parsed.to), *(a.address for a in ctx.parsed.cc)]
    for address in everyone:
        if address and address not in ours and address not in participants:
            participants.append(address)
            added.append(address)
    ticket.participants = participants
    ticket.reply_references = [*ticket.reply_references, ctx.message_id]
    if added:
        notes.append(f"participants + {', '.join(added)}")
    return Decision(name, "pass", "; ".join(notes) or "nothing new", {"participants": added})
