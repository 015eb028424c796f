"""A new sender confirms they are a person before their first ticket opens.

With `tickets.confirm_new_senders`, a new ticket from an address that has no
ticket in the mailbox yet waits (hidden from the agents' lists) and its sender
gets a confirmation mail, never when the mail is automatic, from a list, from
a mail system or from us, and at most `confirmations_per_day` per address. A
reply from that address naming the confirmation mail confirms it here; the
signed link confirms it from the web (`deskmail.ingest.confirmation`). Either
way the ticket then opens as new: routing, triggers and the acknowledgement
run on its first mail.
"""

from __future__ import annotations

import datetime as dt
import secrets

from deskmail.ingest.context import Context
from deskmail.ingest.steps.route import automatic
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict
from deskmail.routing.engine import Mail, automatic_refusal
from deskmail.tickets.models import Ticket

name = "confirm_sender"
AWAITING = Ticket.Confirmation.AWAITING


def run(ctx: Context) -> Decision:
    ticket = ctx.ticket
    if ticket is None:
        return Decision(name, Verdict.SKIP, "no ticket")
    if not ctx.new_ticket:
        if ticket.confirmation == AWAITING:
            return _reply(ctx, ticket)
        return Decision(name, Verdict.SKIP, "the ticket waits for no confirmation")
    config = ctx.settings.tickets
    if not config.confirm_new_senders:
        return Decision(name, Verdict.SKIP, "confirm_new_senders is off")
    if ctx.history:
        return Decision(name, Verdict.SKIP, "history import: never held")
    sender = ticket.reply_to
    if ctx.sender in ctx.own_addresses:
        return Decision(name, Verdict.SKIP, "our own mail waits for no confirmation")
    if sender and ctx.store.sender_known(ctx.mailbox, sender):
        return Decision(name, Verdict.PASS, f"{sender} has written to this mailbox before")
    ticket.confirmation = AWAITING
    ticket.confirm_by = ctx.now + dt.timedelta(hours=config.confirm_within_hours)
    ticket.confirm_nonce = secrets.token_hex(8)
    ctx.held = True
    ctx.trace.append(
        Decision(
            name,
            Verdict.HELD,
            f"{sender or 'the sender'} is new to this mailbox: the ticket waits for their "
            f"confirmation until {ticket.confirm_by:%Y-%m-%d %H:%M} UTC",
        )
    )
    mail = Mail(
        sender=ctx.sender,
        headers=ctx.parsed.headers,
        automatic=automatic(ctx),
        suppress=ctx.parsed.suppress_auto_reply,
    )
    refusal = automatic_refusal(mail, ctx.own_addresses)
    if refusal is None:
        sent = ctx.store.confirmations_sent(ctx.sender, ctx.now - dt.timedelta(days=1))
        if sent >= config.confirmations_per_day:
            refusal = f"rate limit: {ctx.sender} got {sent} confirmation mails in 24 hours"
    if refusal is not None:
        return Decision(name, Verdict.SKIP, f"no confirmation mail: {refusal}")
    ctx.confirm_to = ctx.sender
    return Decision(name, Verdict.QUEUED, f"confirmation mail to {ctx.sender}")


def _reply(ctx: Context, ticket: Ticket) -> Decision:
    """Mail on a waiting ticket: a person's reply to our confirmation mail confirms it."""
    waiting = "the ticket still waits for confirmation"
    if ctx.auto_reply or ctx.bounce:
        return Decision(name, Verdict.SKIP, f"an automatic mail confirms nothing; {waiting}")
    if ctx.sender != ticket.reply_to:
        return Decision(
            name, Verdict.SKIP, f"{ctx.sender or 'no sender'} is not {ticket.reply_to}; {waiting}"
        )
    refs = {ref for ref in [ctx.parsed.in_reply_to, *ctx.parsed.references] if ref}
    named = refs & ctx.store.confirmation_ids(ticket)
    if not named:
        return Decision(name, Verdict.SKIP, f"not a reply to the confirmation mail; {waiting}")
    ticket.confirmation, ticket.confirm_by, ticket.confirm_nonce = "", None, ""
    ctx.released = f"{ctx.sender} replied to the confirmation mail <{sorted(named)[0]}>"
    return Decision(name, Verdict.CONFIRMED, f"{ctx.released}: the ticket opens")
