"""Recognise and record replies to task mail; the pipeline's task_reply step calls these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from deskmail.events.log import emit
from deskmail.events.models import Event
from deskmail.outbound.tokens import task_from_references
from deskmail.tasks.models import Task, TaskEntry


def task_named_by(message_ids: Iterable[str]) -> tuple[int | None, Task | None]:
    """The task id our signed task token names among message_ids (direct parent first), and
    the task when it still exists. (None, None) when no valid task token is there."""
    for message_id in message_ids:
        number = task_from_references([message_id])
        if number is not None:
            task = Task.objects.select_related("ticket").filter(pk=number).first()
            return number, task
    return None, None


def record_reply(
    task: Task,
    *,
    sender: str,
    sender_name: str,
    text: str,
    message_id: str,
    at: dt.datetime,
    history: bool = False,
) -> TaskEntry:
    """A reply to the task mail, in the task's history; the ticket's agents are told."""
    entry = TaskEntry.objects.create(
        task=task,
        kind=TaskEntry.Kind.REPLY,
        sender=sender[:254],
        sender_name=sender_name[:300],
        text=text,
        message_id=message_id[:998],
        created_at=at,
    )
    if not history:
        Task.objects.filter(pk=task.pk).update(new_reply=True, updated_at=at)
        task.new_reply = True
        ticket = task.ticket
        emit(
            Event.Kind.TICKET_UPDATED,
            mailbox_id=ticket.mailbox_id,
            ticket=ticket,
            by=sender_name or sender,
            changes={"task": {"id": task.pk, "reply": entry.pk}},
        )
    return entry
