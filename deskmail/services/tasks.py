"""Tasks on a ticket: give one to a colleague or an outside person by email, mark it done
or open again, list a ticket's tasks with their history.

The task mail goes out through the outbox with the task's signed token as its
Message-ID (`deskmail.outbound.tokens.new_task_message_id`); the pipeline's
task_reply step records replies to it in the task's history. Only people who may
act on the ticket may do any of this; anyone else gets NotFound, as for the ticket.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.queue import OutboundError, queue_task_mail, sending_mailbox
from deskmail.outbound.recipients import own_addresses
from deskmail.outbound.rendering import body_from_text
from deskmail.outbound.tokens import new_task_message_id
from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Invalid, NotFound
from deskmail.tasks.models import Task, TaskEntry
from deskmail.tickets.models import Message, Ticket

TITLE_MAX = 500
INSTRUCTIONS_MAX = 100_000


def _tasks(ticket: Ticket) -> QuerySet[Task]:
    return (
        Task.objects.filter(ticket=ticket)
        .select_related("assignee", "assigned_by", "outbox_item")
        .prefetch_related(
            Prefetch(
                "entries",
                queryset=TaskEntry.objects.select_related("by").order_by("created_at", "id"),
            )
        )
        .order_by("id")
    )


def tasks_of(actor: Actor, ticket: Ticket) -> list[Task]:
    """The ticket's tasks, oldest first, each with its history (entries)."""
    access.require_act_on(actor, ticket)
    return list(_tasks(ticket))


def task(actor: Actor, ticket: Ticket, pk: int) -> Task:
    """One task of the ticket; NotFound for a task of another ticket."""
    access.require_act_on(actor, ticket)
    found = _tasks(ticket).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no task {pk} on ticket #{ticket.number}")
    return found


def customer_message(ticket: Ticket) -> Message | None:
    """The customer's latest mail on the ticket, the one a task may quote."""
    return (
        ticket.messages.filter(direction=Message.Direction.IN, excluded=False)
        .order_by("-received_at", "-id")
        .first()
    )


def _address(to: str) -> str:
    _, address = parseaddr(to or "")
    address = address.strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise Invalid(f"{to!r} is not an email address", field="to") from None
    if address in own_addresses():
        raise Invalid(
            f"{address} is one of our own mailboxes; give the task to a person", field="to"
        )
    return address


def _body(
    ticket: Ticket, title: str, instructions: str, agent: Any, quote: Message | None, sender: str
) -> SafeString:
    agent_name = ""
    if agent is not None:
        agent_name = agent.get_full_name() or agent.email or agent.get_username()
    html = render_to_string(
        "tasks/task_mail.html",
        {
            "ticket": ticket,
            "title": title,
            "instructions": body_from_text(instructions) if instructions.strip() else "",
            "agent_name": agent_name,
            "mailbox_name": sender,
            "quote": (
                {
                    "text": quote.reply_text or quote.body_text,
                    "date": quote.date or quote.received_at,
                }
                if quote is not None
                else None
            ),
        },
    )
    return mark_safe(html)  # noqa: S308 - rendered from our template, every value escaped


def _changed(ticket: Ticket, actor: Actor, **task: Any) -> None:
    emit(
        Event.Kind.TICKET_UPDATED,
        mailbox_id=ticket.mailbox_id,
        ticket=ticket,
        by=actor.name,
        changes={"task": task},
    )


def create(
    actor: Actor,
    ticket: Ticket,
    *,
    to: str,
    title: str,
    instructions: str = "",
    include_customer_message: bool = False,
) -> Task:
    """Give a task on the ticket to `to` (a colleague's address or any other) by email.

    The mail ("Task on #N: title") is queued in the outbox in this transaction, from
    the ticket's sending mailbox, to `to` alone, outside the customer's thread.
    """
    access.require_act_on(actor, ticket)
    title = " ".join((title or "").split())
    if not title:
        raise Invalid("a task needs a title", field="title")
    if len(title) > TITLE_MAX:
        raise Invalid(f"the title is longer than {TITLE_MAX} characters", field="title")
    instructions = (instructions or "").strip()
    if len(instructions) > INSTRUCTIONS_MAX:
        raise Invalid("the instructions are too long", field="instructions")
    address = _address(to)
    agent = access.user_of(actor)
    colleague = get_user_model().objects.filter(email__iexact=address, is_active=True).first()
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
            mailbox = sending_mailbox(locked)
            task = Task.objects.create(
                ticket=locked,
                title=title,
                instructions=instructions,
                assignee_address=address,
                assignee=colleague,
                assigned_by=agent,
            )
            quote = customer_message(locked) if include_customer_message else None
            task.message_id = new_task_message_id(task.pk, mailbox.address)
            body = _body(
                locked, title, instructions, agent, quote, mailbox.settings.display_name or ""
            )
            task.outbox_item = queue_task_mail(
                locked,
                message_id=task.message_id,
                to=address,
                subject=f"Task on #{locked.number}: {title}",
                body=body,
                agent=agent,
                mailbox=mailbox,
                now=now,
            )
            task.save(update_fields=["message_id", "outbox_item"])
            TaskEntry.objects.create(
                task=task,
                kind=TaskEntry.Kind.SENT,
                by=agent,
                text=instructions,
                sender=address,
                created_at=now,
            )
            _changed(locked, actor, id=task.pk, created=title, to=address)
    except OutboundError as exc:
        raise Invalid(str(exc), field="to") from exc
    return _tasks(ticket).get(pk=task.pk)


def set_status(actor: Actor, ticket: Ticket, pk: int, status: str) -> Task:
    """Mark a task done, or open again; the change is in its history. Idempotent."""
    if status not in Task.Status.values:
        raise Invalid(f"no task status {status!r}; open or done", field="status")
    found = task(actor, ticket, pk)
    if found.status == status:
        return found
    now = timezone.now()
    with transaction.atomic():
        changed = (
            Task.objects.filter(pk=found.pk)
            .exclude(status=status)
            .update(
                status=status,
                done_at=now if status == Task.Status.DONE else None,
                new_reply=False,
                updated_at=now,
            )
        )
        if changed:
            kind = TaskEntry.Kind.DONE if status == Task.Status.DONE else TaskEntry.Kind.REOPENED
            TaskEntry.objects.create(
                task=found, kind=kind, by=access.user_of(actor), created_at=now
            )
            _changed(ticket, actor, id=found.pk, status=status)
    return task(actor, ticket, pk)


def mark_seen(actor: Actor, ticket: Ticket, pk: int) -> Task:
    """The task's new replies have been read: it no longer shows "new reply"."""
    found = task(actor, ticket, pk)
    if found.new_reply:
        Task.objects.filter(pk=found.pk).update(new_reply=False)
        found.new_reply = False
    return found


def reply_message(actor: Actor, ticket: Ticket, pk: int, entry: int) -> Message:
    """The stored mail of one reply in a task's history (for its formatted view)."""
    found = task(actor, ticket, pk)
    row = next((e for e in found.entries.all() if e.pk == entry), None)
    if row is None or row.kind != TaskEntry.Kind.REPLY or not row.message_id:
        raise NotFound(f"no reply {entry} on task {pk}")
    message = Message.objects.filter(message_id=row.message_id).first()
    if message is None:
        raise NotFound(f"no reply {entry} on task {pk}")
    return message
