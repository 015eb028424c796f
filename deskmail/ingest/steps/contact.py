"""The first sender (or, for our own mail, its To) is the contact; the rest are participants."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict

name = "contact"


def run(ctx: Context) -> Decision:
    ticket = ctx.ticket
    if ticket is None:
        return Decision(name, Verdict.SKIP, "no ticket")
    sender, ours = ctx.sender, ctx.own_addresses
    notes = []
    customer, customer_name = sender, ctx.parsed.from_name
    if sender in ours:
        # Our own mail opening a ticket (an agent wrote first): the customer is the To.
        first = next((a for a in ctx.parsed.to if a.address and a.address not in ours), None)
        customer, customer_name = (first.address, first.name) if first else ("", "")
    if ctx.new_ticket and customer:
        contact = ctx.store.contact(customer)
        if contact is None and ctx.settings.tickets.create_contacts:
            contact = ctx.store.create_contact(customer, customer_name)
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
    return Decision(name, Verdict.PASS, "; ".join(notes) or "nothing new", {"participants": added})
