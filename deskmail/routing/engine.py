"""What happens to a ticket after the pipeline opened it (or its customer wrote again).

    router = Router(mailbox, ticket, mail, at=now, own=own_addresses, history=False)
    router.run_actions()          # the mailbox's routing plan, for a new ticket
    router.run_triggers("created")
    router.lines, router.tags, router.replies, router.webhooks

The router changes the ticket in memory (queue, priority, assignee; not saved)
and says what it did in `lines`, one sentence each, which the pipeline writes
into the message's trace. Tags and automatic answers need the saved ticket and
message: the caller applies them afterwards (`apply_tags`, `send_reply`,
`tell_webhooks`).

- The plan's actions run in order; an hours rule runs its inside or outside
  branch in place; `stop` ends the plan. Triggers run after the plan, each once,
  in order, each seeing what the ones before it changed; a trigger's changes
  never start another round, so triggers cannot loop.
- At most one automatic answer per incoming mail, never to automatic mail (an
  auto-reply, a bounce, a mailing list, bulk mail, a mailer-daemon), never to our
  own addresses, never when the sender asked for none (X-Auto-Response-Suppress),
  and at most `auto_replies_per_hour` per sender.
- Mail imported as history is routed to queues, but never distributed to agents,
  never answered, and never told to the webhooks or the agents.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.mail.domains import domain_matches, domain_of
from deskmail.mailboxes import patterns
from deskmail.mailboxes.config import (
    WEEKDAYS,
    Distribute,
    RoutingAction,
    RoutingConfig,
    Trigger,
    TriggerConditions,
    time_range,
)
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.queue import queue_auto_reply
from deskmail.routing import distribution, hours
from deskmail.tickets.models import InternalNote, Queue, Tag, Ticket, TicketType, Transfer

# Senders that are machines reporting on mail, whatever their headers say.
_MACHINE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon"})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_LIVE = (OutboxItem.Status.PENDING, OutboxItem.Status.SENDING, OutboxItem.Status.SENT)
# The automatic answers that share the per-sender hourly limit.
AUTOMATIC_KINDS = (OutboxItem.Kind.AUTO_REPLY, OutboxItem.Kind.NOTICE)


@dataclass(frozen=True)
class Mail:
    """What the rules look at in the mail that arrived."""

    sender: str
    subject: str = ""
    body: str = ""
    headers: dict[str, list[str]] = field(default_factory=dict)
    # Why the pipeline found it automatic (an auto-reply, a bounce); "" when a person wrote it.
    automatic: str = ""
    # The sender asked for no automatic answers (X-Auto-Response-Suppress).
    suppress: bool = False


@dataclass(frozen=True)
class Line:
    """One decision, for the trace: a verdict word and a sentence."""

    verdict: str  # routed, assigned, queued, matched, miss, skip, inside, outside, stopped
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    template: str
    recipient: str


class Router:
    def __init__(
        self,
        mailbox: Mailbox,
        ticket: Ticket,
        mail: Mail,
        *,
        at: dt.datetime,
        own: frozenset[str],
        history: bool = False,
    ) -> None:
        self.mailbox, self.ticket, self.mail = mailbox, ticket, mail
        self.config: RoutingConfig = mailbox.settings.routing
        self.at, self.own, self.history = at, own, history
        self.lines: list[Line] = []
        self.tags: list[str] = []
        self.replies: list[Reply] = []
        self.notes: list[str] = []
        # The triggers that asked to tell the webhooks, with the event they matched on.
        self.webhooks: list[tuple[str, str]] = []
        # Templates to mail to the agents (see `agent_notices`).
        self.agent_notices: list[str] = []
        # The agent distribution gave the ticket to, who must accept it in time.
        self.offer: User | None = None
        self._inside: hours.Verdict | None = None
        self._existing_tags: set[str] | None = None
        # What every trigger compares with, worked out once per mail.
        self._domain = domain_of(mail.sender)
        self._folded = {"subject": mail.subject.casefold(), "body": mail.body.casefold()}

    # -- the plan ------------------------------------------------------------------------

    def run_actions(self) -> None:
        """The mailbox's routing actions, in order, until the end or a stop."""
        self._run(self.config.actions)

    def _run(self, actions: list[RoutingAction]) -> bool:
        """Run actions; True when one of them stopped the plan."""
        for action in actions:
            if action.stop:
                self.lines.append(Line("stopped", "stop: the routing plan ends here"))
                return True
            if action.queue is not None:
                self._set_queue(action.queue, "routed to queue")
            elif action.agent is not None:
                self._assign(action.agent)
            elif action.distribute is not None:
                self._distribute(action.distribute)
            elif action.auto_reply is not None:
                self._reply(action.auto_reply, "")
            elif action.hours is not None:
                verdict = self.working_hours()
                inside = verdict.inside
                branch = action.hours.inside if inside else action.hours.outside
                self.lines.append(
                    Line(
                        "inside" if inside else "outside",
                        f"{verdict.reason}: {len(branch)} action(s) follow",
                    )
                )
                if self._run(branch):
                    return True
        return False

    # -- triggers ------------------------------------------------------------------------

    def run_triggers(self, event: str) -> None:
        """Every trigger for this event whose conditions hold, in order, once each."""
        for trigger in self.config.triggers:
            if event not in trigger.when:
                continue
            failed = self._unmet(trigger.conditions)
            if failed is not None:
                self.lines.append(Line("miss", f"trigger {trigger.name!r}: {failed}"))
                continue
            self._fire(trigger, event)

    def _fire(self, trigger: Trigger, event: str) -> None:
        then = trigger.actions
        done = []
        if then.priority is not None and self.ticket.priority != then.priority:
            self.ticket.priority = then.priority
            done.append(f"priority {then.priority}")
        if then.queue is not None:
            self.ticket.queue = Queue.objects.get_or_create(name=then.queue)[0]
            done.append(f"queue {then.queue}")
        if then.type is not None:
            self.ticket.type = TicketType.objects.get_or_create(name=then.type)[0]
            done.append(f"type {then.type}")
        if then.status is not None and self.ticket.set_status(then.status, self.at):
            done.append(f"status {then.status}")
        if then.fields:
            values = dict(self.ticket.custom_fields or {})
            for name, value in then.fields.items():
                if value is None:
                    values.pop(name, None)
                else:
                    values[name] = value
            self.ticket.custom_fields = values
            done.append("fields " + ", ".join(f"{k}={v}" for k, v in then.fields.items()))
        for name in then.tags:
            if name not in self.tags:
                self.tags.append(name)
        if then.tags:
            done.append(f"tags {', '.join(then.tags)}")
        if then.note is not None:
            self.notes.append(then.note)
            done.append("a note")
        if then.webhook and not self.history:
            self.webhooks.append((trigger.name, event))
            done.append("webhook")
        if then.notify_agents is not None and not self.history:
            self.agent_notices.append(then.notify_agents)
            done.append(f"the agents get {then.notify_agents!r}")
        what = ", ".join(done) if done else "no field changes"
        self.lines.append(
            Line("matched", f"trigger {trigger.name!r} matched ({event}): {what}", {"event": event})
        )
        if then.assign is not None:
            self._assign(then.assign)
        if then.distribute is not None:
            self._distribute(then.distribute)
        if then.auto_reply is not None:
            self._reply(then.auto_reply, f"trigger {trigger.name!r}: ")

    def _unmet(self, when: TriggerConditions) -> str | None:
        """The first condition that does not hold, in words; None when all hold."""
        mail = self.mail
        if when.sender and mail.sender not in when.sender:
            return f"sender {mail.sender or '(none)'} is not {' or '.join(when.sender)}"
        if when.sender_domain:
            domain = self._domain
            if not domain or not any(domain_matches(domain, d) for d in when.sender_domain):
                return f"sender domain {domain or '(none)'} is not under " + ", ".join(
                    when.sender_domain
                )
        for words, what in ((when.subject_contains, "subject"), (when.body_contains, "body")):
            if words and not any(w.casefold() in self._folded[what] for w in words):
                return f"the {what} contains none of " + ", ".join(repr(w) for w in words)
        for text, pattern, what in (
            (mail.subject, when.subject_matches, "subject"),
            (mail.body, when.body_matches, "body"),
        ):
            if pattern is None:
                continue
            try:
                found = patterns.search(pattern, text)
            except patterns.PatternTimeout as exc:
                return f"the {what} pattern gave up: {exc}"
            if found is None:
                return f"the {what} does not match {pattern!r}"
        if when.priority and self.ticket.priority not in when.priority:
            return f"priority {self.ticket.priority} is not {' or '.join(when.priority)}"
        if when.status and self.ticket.status not in when.status:
            return f"status {self.ticket.status} is not {' or '.join(when.status)}"
        if when.type:
            kind = self.ticket.type.name if self.ticket.type is not None else ""
            if kind not in when.type:
                return f"type {kind or '(none)'} is not {' or '.join(when.type)}"
        if when.tags:
            tags = self._current_tags()
            if not tags & set(when.tags):
                return "the ticket has none of the tags " + ", ".join(when.tags)
        if when.hours is not None:
            verdict = self.working_hours()
            if (when.hours == "inside") != verdict.inside:
                return f"not {when.hours} working hours ({verdict.reason})"
        return self._unmet_clock(when) or self._unmet_fields(when)

    def _unmet_clock(self, when: TriggerConditions) -> str | None:
        if not when.time_of_day and not when.weekdays:
            return None
        local = self.at.astimezone(zoneinfo.ZoneInfo(self.config.time_zone))
        day = WEEKDAYS[local.weekday()]
        if when.weekdays and day not in when.weekdays:
            return f"{day.capitalize()} is not {' or '.join(when.weekdays)}"
        minute = local.hour * 60 + local.minute
        spans = [time_range(text) for text in when.time_of_day]
        if spans and not any(start <= minute < end for start, end in spans):
            return f"{local:%H:%M} {self.config.time_zone} is not in {', '.join(when.time_of_day)}"
        return None

    def _unmet_fields(self, when: TriggerConditions) -> str | None:
        values = self.ticket.custom_fields or {}
        for name, wanted in when.fields.items():
            value = values.get(name)
            shown = "" if value is None else str(value)
            if shown.casefold() != wanted.casefold():
                return f"field {name} is {shown or '(empty)'!s}, not {wanted}"
        return None

    def _current_tags(self) -> set[str]:
        if self._existing_tags is None:
            self._existing_tags = set()
            if self.ticket.pk is not None:
                self._existing_tags = set(self.ticket.tags.values_list("name", flat=True))
        return self._existing_tags | set(self.tags)

    # -- what the actions do -------------------------------------------------------------

    def working_hours(self) -> hours.Verdict:
        if self._inside is None:
            assert self.config.working_hours is not None  # the schema requires them
            self._inside = hours.evaluate(self.config.working_hours, self.config.time_zone, self.at)
        return self._inside

    def _set_queue(self, name: str, words: str) -> None:
        self.ticket.queue = Queue.objects.get_or_create(name=name)[0]
        self.lines.append(Line("routed", f"{words} {name}", {"queue": name}))

    def _assign(self, address: str) -> None:
        user = (
            get_user_model()
            .objects.filter(
                email__iexact=address,
                is_active=True,
                mailbox_memberships__mailbox=self.mailbox,
            )
            .first()
        )
        if user is None:
            self.lines.append(
                Line(
                    "skip",
                    f"{address} is no active member of mailbox {self.mailbox.name}'s team: "
                    "not assigned",
                )
            )
            return
        self._give(user, f"assigned to {address}")

    def _give(self, user: User, reason: str, *, offer: bool = False) -> None:
        self.ticket.assignee = user
        self.offer = user if offer else None
        if offer:
            wait = self.mailbox.settings.console.wait_for_agent_minutes
            reason += f"; waits {wait:g} minutes for them to accept"
        self.lines.append(Line("assigned", reason, {"agent": user.pk}))

    def _distribute(self, spec: Distribute) -> None:
        if self.history:
            self.lines.append(Line("skip", "history import: not distributed to an agent"))
            return
        queue = self.ticket.queue.name if self.ticket.queue is not None else ""
        choice = distribution.choose(self.mailbox, queue, spec)
        if choice.user is None:
            self.lines.append(Line("skip", choice.reason))
            return
        self._give(choice.user, choice.reason, offer=True)

    def _reply(self, template: str, prefix: str) -> None:
        refusal = self.reply_refusal()
        if refusal is not None:
            self.lines.append(Line("skip", f"{prefix}no auto-reply {template!r}: {refusal}"))
            return
        self.replies.append(Reply(template, self.mail.sender))
        self.lines.append(Line("queued", f"{prefix}auto-reply {template!r} to {self.mail.sender}"))

    def reply_refusal(self) -> str | None:
        """Why the mail must not get an automatic answer, or None when it may."""
        if self.history:
            return "history import: never answered"
        if self.replies:
            return f"this mail already gets the auto-reply {self.replies[0].template!r}"
        return answer_refusal(self.mail, self.own, self.at, self.config.auto_replies_per_hour)


def answer_refusal(mail: Mail, own: frozenset[str], at: dt.datetime, per_hour: int) -> str | None:
    """Why mail must get no automatic answer from us, or None when it may.

    Never to automatic mail (an auto-reply, a bounce, a mailing list, bulk mail, a
    mail system), never to our own addresses, never when the sender asked for none,
    and at most per_hour automatic answers (of any rule) per sender.
    """
    refusal = automatic_refusal(mail, own)
    if refusal is not None:
        return refusal
    recent = OutboxItem.objects.filter(
        kind__in=AUTOMATIC_KINDS,
        recipient=mail.sender,
        status__in=_LIVE,
        created_at__gte=at - dt.timedelta(hours=1),
    ).count()
    if recent >= per_hour:
        return f"rate limit: {mail.sender} got {recent} auto-replies in the past hour"
    return None


def automatic_refusal(mail: Mail, own: frozenset[str]) -> str | None:
    """Why this mail's sender must never get mail from us unasked, or None when they may:
    automatic mail, lists and bulk mail, mail systems, our own addresses, a sender who
    asked for no automatic answers."""
    if not mail.sender:
        return "no sender to answer"
    if mail.sender in own:
        return f"{mail.sender} is one of our own addresses"
    if mail.sender.partition("@")[0] in _MACHINE_SENDERS:
        return f"{mail.sender} is a mail system, not a person"
    if mail.automatic:
        return f"the mail is automatic ({mail.automatic})"
    if mail.headers.get("list-id"):
        return f"the mail came from a mailing list (List-Id {mail.headers['list-id'][0]})"
    precedence = {v.strip().lower() for v in mail.headers.get("precedence", [])}
    if precedence & _BULK_PRECEDENCE:
        return f"the mail is bulk mail (Precedence: {', '.join(sorted(precedence))})"
    if mail.suppress:
        return "the sender asked for no automatic answers (X-Auto-Response-Suppress)"
    return None


# -- after the ticket and the message are saved --------------------------------------------


def apply_tags(ticket: Ticket, names: list[str]) -> None:
    """Add the tags the triggers gave (created on first use)."""
    tags = [Tag.objects.get_or_create(name=name[:100])[0] for name in names]
    ticket.tags.add(*tags)


def offer(ticket: Ticket, user: User, reason: str, now: dt.datetime) -> Transfer:
    """The distributed ticket waits for its agent to accept, like a transfer in the console.

    Not accepted within the mailbox's `console.wait_for_agent_minutes`, it waits in its
    queue for `wait_for_queue_minutes`, then comes back unassigned (the worker's
    housekeeping moves it on, as it does every transfer).
    """
    wait = ticket.mailbox.settings.console.wait_for_agent_minutes
    item = Transfer.objects.create(
        ticket=ticket,
        to_user=user,
        to_queue=ticket.queue,
        state=Transfer.State.WAITING_AGENT,
        due_at=now + dt.timedelta(minutes=wait),
    )
    InternalNote.objects.create(
        ticket=ticket,
        kind=InternalNote.Kind.ACTIVITY,
        body=f"Distributed by {reason}.",
    )
    return item


def add_notes(ticket: Ticket, notes: list[str]) -> None:
    """The triggers' internal notes on the saved ticket."""
    for body in notes:
        InternalNote.objects.create(ticket=ticket, kind=InternalNote.Kind.NOTE, body=body)


def tell_webhooks(ticket: Ticket, matched: list[tuple[str, str]]) -> None:
    """A `trigger.matched` event per trigger that asked for the webhooks (in the caller's
    transaction, after the ticket's own events)."""
    for name, event in matched:
        emit(
            Event.Kind.TRIGGER_MATCHED,
            mailbox_id=ticket.mailbox_id,
            ticket=ticket,
            trigger=name,
            event=event,
            status=ticket.status,
            priority=ticket.priority,
            queue=ticket.queue.name if ticket.queue is not None else None,
        )


def send_reply(ticket: Ticket, reply: Reply) -> OutboxItem:
    """Queue the automatic answer through the outbox, threaded under the ticket's mail."""
    template = ticket.mailbox.settings.routing.template(reply.template)
    assert template is not None  # the schema checks every name a rule uses
    return queue_auto_reply(
        ticket, reply.recipient, body=template.body, subject=template.subject or None
    )
