"""Answering from the console: drafts, the collision check, undo send, new outbound tickets.

    draft = save_draft(actor, ticket, "reply", to=..., cc=..., body=...)
    item = send_reply(actor, ticket, body=..., opened_at=when_the_composer_opened)
    undo_send(actor, item.pk)   # within the mailbox's undo window: back to the draft

A reply waits `console.undo_send_seconds` in the outbox (OutboxItem.send_after)
before the worker may take it. Undoing claims the row with the same kind of
conditional UPDATE the worker uses, so exactly one of them wins: either the
mail goes out, or it is taken back into the draft and never sent.

Before sending, `changes_since` says what arrived while the agent was writing
(a new mail from outside, a colleague's reply); the console asks before sending
anyway.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.canned import canned_answers_for, render_canned
from deskmail.outbound.compose import OutgoingAttachment
from deskmail.outbound.models import CannedAnswer, OutboxItem
from deskmail.outbound.queue import OutboundError, cannot_send, default_sending_mailbox
from deskmail.outbound.recipients import Recipients, clean, suggested
from deskmail.services import access, actions, people
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import Contact, Counter, Draft, Message, Ticket

# Someone who saved a draft within this long is "replying" (the drafts autosave).
REPLYING_FOR = dt.timedelta(minutes=2)


class Collision(Invalid):
    """Something arrived since the composer opened; send again with confirmed=True."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__("Since you started writing: " + "; ".join(changes), field="confirmed")
        self.changes = changes


# -- drafts ---------------------------------------------------------------------------------


def draft_for(actor: Actor, ticket: Ticket, kind: str = Draft.Kind.REPLY) -> Draft | None:
    if actor.user_id is None:
        return None
    return Draft.objects.filter(ticket=ticket, user_id=actor.user_id, kind=kind).first()


def save_draft(
    actor: Actor,
    ticket: Ticket,
    kind: str,
    *,
    to: str = "",
    cc: str = "",
    body: str = "",
    message: Message | None = None,
) -> Draft | None:
    """Keep what the actor is writing (an empty draft is removed)."""
    access.require_act_on(actor, ticket)
    if kind not in Draft.Kind.values:
        raise Invalid(f"no kind of draft {kind!r}", field="kind")
    if actor.user_id is None:
        return None
    if not (to.strip() or cc.strip() or body.strip()):
        discard_draft(actor, ticket, kind)
        return None
    draft, _ = Draft.objects.update_or_create(
        ticket=ticket,
        user_id=actor.user_id,
        kind=kind,
        defaults={
            "to": to[:5000],
            "cc": cc[:5000],
            "body": body[:200_000],
            "message": message,
            "updated_at": timezone.now(),
        },
    )
    return draft


def discard_draft(actor: Actor, ticket: Ticket, kind: str) -> None:
    if actor.user_id is not None:
        Draft.objects.filter(ticket=ticket, user_id=actor.user_id, kind=kind).delete()


def replying(actor: Actor, ticket: Ticket, now: dt.datetime | None = None) -> list[str]:
    """The colleagues writing a reply or forward on this ticket right now (by their drafts)."""
    now = now or timezone.now()
    drafts = (
        Draft.objects.filter(
            ticket=ticket,
            kind__in=[Draft.Kind.REPLY, Draft.Kind.FORWARD],
            updated_at__gte=now - REPLYING_FOR,
        )
        .exclude(user_id=actor.user_id or 0)
        .exclude(body="")
        .select_related("user")
        .order_by("updated_at")
    )
    return [people.display_name(d.user) for d in drafts]


# -- recipients, canned answers ---------------------------------------------------------------


def recipients(ticket: Ticket) -> Recipients:
    """To: the contact; Cc: the latest other sender and the kept Ccs (never our addresses)."""
    return suggested(ticket)


def canned_answers(actor: Actor, ticket: Ticket) -> list[CannedAnswer]:
    access.ticket(actor, ticket.number)
    return canned_answers_for(ticket.mailbox)


def canned_text(actor: Actor, ticket: Ticket, pk: int) -> str:
    """A canned answer of the ticket's mailbox (or a global one), its variables filled in."""
    found = next((a for a in canned_answers(actor, ticket) if a.pk == pk), None)
    if found is None:
        raise Invalid("no such canned answer for this mailbox", field="canned")
    return render_canned(found, ticket, access.user_of(actor))


# -- the collision check ----------------------------------------------------------------------


def changes_since(actor: Actor, ticket: Ticket, since: dt.datetime) -> list[str]:
    """What arrived on the ticket after `since` that the actor should read before sending."""
    found: list[str] = []
    newer = ticket.messages.filter(received_at__gt=since).select_related("outbox_item")
    for message in newer.order_by("received_at", "id"):
        if message.direction == Message.Direction.IN and not message.excluded:
            who = message.from_name or message.from_address or "someone"
            found.append(f"a new message from {who} ({message.received_at:%H:%M} UTC)")
            continue
        outbox = getattr(message, "outbox_item", None)
        if outbox is None or outbox.kind == OutboxItem.Kind.AUTO_ACK:
            continue
        if outbox.agent_id is not None and outbox.agent_id != actor.user_id:
            who = people.display_name(outbox.agent)
            found.append(f"{who} replied at {message.received_at:%H:%M} UTC")
    return found


# -- sending, and taking it back ---------------------------------------------------------------


def _undo_window(mailbox: Mailbox) -> dt.timedelta:
    return dt.timedelta(seconds=mailbox.settings.console.undo_send_seconds)


def send_reply(
    actor: Actor,
    ticket: Ticket,
    *,
    body: str,
    to: Iterable[str] | None = None,
    cc: Iterable[str] | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
    status: str | None = None,
    opened_at: dt.datetime | None = None,
    confirmed: bool = False,
    public_note: bool = False,
) -> OutboxItem:
    """Queue the reply with its undo window; Collision when something arrived meanwhile."""
    access.require_act_on(actor, ticket)
    if opened_at is not None and not confirmed:
        changes = changes_since(actor, ticket, opened_at)
        if changes:
            raise Collision(changes)
    with transaction.atomic():
        item = actions.reply(
            actor,
            ticket,
            body_text=body,
            to=to,
            cc=cc,
            attachments=attachments,
            status=status or None,
            public_note=public_note,
        )
        window = _undo_window(item.mailbox or ticket.mailbox)
        if window:
            item.send_after = timezone.now() + window
            OutboxItem.objects.filter(pk=item.pk).update(send_after=item.send_after)
        discard_draft(actor, ticket, Draft.Kind.REPLY)
    return item


def send_forward(
    actor: Actor,
    message: Message,
    *,
    to: Iterable[str],
    cc: Iterable[str] = (),
    body: str = "",
    include_previous: bool = False,
    attachments: Sequence[OutgoingAttachment] = (),
) -> OutboxItem:
    if message.ticket is None:
        raise NotFound(f"no message {message.pk}")
    with transaction.atomic():
        item = actions.forward(
            actor,
            message,
            to=to,
            cc=cc,
            body_text=body,
            include_previous=include_previous,
            attachments=attachments,
        )
        window = _undo_window(item.mailbox or message.ticket.mailbox)
        if window:
            item.send_after = timezone.now() + window
            OutboxItem.objects.filter(pk=item.pk).update(send_after=item.send_after)
        discard_draft(actor, message.ticket, Draft.Kind.FORWARD)
    return item


def undo_send(actor: Actor, pk: int) -> Draft | None:
    """Take a reply or forward back before it went out; its text returns to the draft.

    Invalid when it is too late (the worker took it, or the window passed and it went).
    """
    item = access.outbox_item(actor, pk)
    assert item.ticket is not None  # access.outbox_items: a ticket's outgoing mail only
    access.require_act_on(actor, item.ticket)
    if item.kind not in (OutboxItem.Kind.REPLY, OutboxItem.Kind.FORWARD, OutboxItem.Kind.NOTE):
        raise Invalid("only replies and forwards can be taken back", field="outbox")
    with transaction.atomic():
        # The same conditional UPDATE the worker's claim makes: one of the two wins.
        taken = OutboxItem.objects.filter(
            pk=item.pk, status=OutboxItem.Status.PENDING, attempts=0
        ).update(status=OutboxItem.Status.SKIPPED, last_error=f"taken back by {actor.name}")
        if not taken:
            raise Invalid("too late to undo: the mail is on its way or sent", field="outbox")
        ticket = Ticket.objects.select_for_update().get(pk=item.ticket.pk)
        outgoing = item.outgoing
        kind = Draft.Kind.FORWARD if item.kind == OutboxItem.Kind.FORWARD else Draft.Kind.REPLY
        draft = None
        if outgoing is not None:
            draft = save_draft(
                actor,
                ticket,
                kind,
                to=", ".join(outgoing.to),
                cc=", ".join(outgoing.cc),
                body=outgoing.reply_text,
            )
            ticket.reply_references = [
                r for r in ticket.reply_references if r != outgoing.message_id
            ]
            ticket.save(update_fields=["reply_references", "updated_at"])
        item.delete()
        if outgoing is not None:
            outgoing.delete()
    return draft


# -- a new ticket that starts with our mail ----------------------------------------------------


def sending_mailboxes(actor: Actor) -> list[Mailbox]:
    return [m for m in access.mailboxes(actor) if cannot_send(m) is None]


def open_outbound(
    actor: Actor,
    *,
    to: Iterable[str],
    subject: str,
    body: str,
    mailbox: str | None = None,
    cc: Iterable[str] = (),
    attachments: Sequence[OutgoingAttachment] = (),
) -> Ticket:
    """A new ticket whose first message is ours, sent from the chosen mailbox or the default."""
    chosen = access.mailbox(actor, mailbox) if mailbox else None
    if chosen is None:
        try:
            chosen = default_sending_mailbox()
        except OutboundError as exc:
            raise Invalid(str(exc), field="mailbox") from exc
        if chosen is None or not actor.sees(chosen.pk):
            raise Invalid("choose the mailbox to send from", field="mailbox")
    reason = cannot_send(chosen)
    if reason:
        raise Invalid(reason, field="mailbox")
    recipients = clean(to)
    if not recipients:
        raise Invalid("give the address to write to (not one of our own)", field="to")
    if not subject.strip():
        raise Invalid("give the mail a subject", field="subject")
    now = timezone.now()
    with transaction.atomic():
        contact = Contact.objects.get_or_create(address=recipients[0])[0]
        ticket = Ticket.objects.create(
            number=Counter.next("ticket"),
            mailbox=chosen,
            title=subject.strip()[:1000],
            status=Ticket.Status.OPEN,
            contact=contact,
            participants=recipients + [a for a in clean(cc) if a not in recipients],
            reply_to=recipients[0],
            first_mail_at=now,
            assignee_id=actor.user_id,
        )
        actions.reply(
            actor,
            ticket,
            body_text=body,
            to=recipients,
            cc=list(cc),
            attachments=attachments,
            mailbox=chosen.name,
            status=Ticket.Status.PENDING,
        )
        emit(Event.Kind.TICKET_CREATED, mailbox_id=chosen.pk, ticket=ticket, by=actor.name)
    return ticket


# -- @mentions in notes ------------------------------------------------------------------------

_MENTION = re.compile(r"(?<![\w@])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)")


@dataclass(frozen=True)
class Mention:
    user_id: int
    name: str


def mentions(ticket: Ticket, body: str) -> list[Mention]:
    """Colleagues of the mailbox named in a note: @first-name, @local-part or @address."""
    team = people.team_of(ticket.mailbox_id)
    found: dict[int, Mention] = {}
    for word in _MENTION.findall(body):
        key = word.lower().rstrip(".")
        for user in team:
            email = (user.email or "").lower()
            names = {email, email.partition("@")[0], (user.first_name or "").lower()}
            if key in names - {""}:
                found[user.pk] = Mention(user.pk, people.display_name(user))
    return list(found.values())


def add_note(actor: Actor, ticket: Ticket, body: str) -> tuple[object, list[Mention]]:
    """An internal note; the colleagues it @mentions are named in its event."""
    named = mentions(ticket, body)
    with transaction.atomic():
        note = actions.note(actor, ticket, body, mentions=[m.user_id for m in named])
        discard_draft(actor, ticket, Draft.Kind.NOTE)
    return note, named
