"""Tasks on a ticket: mailed to a colleague or an outside person, their replies, done/open."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from deskmail.api.auth import actor
from deskmail.api.v1.shapes import Person, Shape, person
from deskmail.api.v1.types import Id
from deskmail.services import access, tasks
from deskmail.tasks.models import Task, TaskEntry

router = Router(tags=["tasks"])

TaskStatus = Literal["open", "done"]


class TaskEntryOut(Shape):
    id: int
    kind: Literal["sent", "reply", "done", "reopened"]
    at: dt.datetime
    by: Person | None = Field(description="the agent who did it; null for a reply")
    sender: str = Field(description="a reply's sender; the assignee for sent")
    sender_name: str
    text: str = Field(description="a reply's new text (quotes removed); the instructions sent")
    message_id: str = Field(description="a reply: the Message-ID of the stored mail")


class TaskOut(Shape):
    id: int
    ticket: int
    title: str
    instructions: str
    to: str = Field(description="the address the task was mailed to")
    assignee: Person | None = Field(description="the team member with that address, if any")
    assigned_by: Person | None
    status: TaskStatus
    new_reply: bool = Field(description="a reply came that nobody marked seen yet")
    message_id: str = Field(description="the task mail's Message-ID (a signed task token)")
    outbox: int | None = Field(description="the task mail's outbox row (see /outbox/{id})")
    outbox_status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    done_at: dt.datetime | None
    history: list[TaskEntryOut]


def _entry(row: TaskEntry) -> TaskEntryOut:
    return TaskEntryOut(
        id=row.pk,
        kind=row.kind,  # type: ignore[arg-type]
        at=row.created_at,
        by=person(row.by),
        sender=row.sender,
        sender_name=row.sender_name,
        text=row.text,
        message_id=row.message_id,
    )


def _task(row: Task, number: int) -> TaskOut:
    return TaskOut(
        id=row.pk,
        ticket=number,
        title=row.title,
        instructions=row.instructions,
        to=row.assignee_address,
        assignee=person(row.assignee),
        assigned_by=person(row.assigned_by),
        status=row.status,  # type: ignore[arg-type]
        new_reply=row.new_reply,
        message_id=row.message_id or "",
        outbox=row.outbox_item_id,
        outbox_status=row.outbox_item.status if row.outbox_item else "",
        created_at=row.created_at,
        updated_at=row.updated_at,
        done_at=row.done_at,
        history=[_entry(e) for e in row.entries.all()],
    )


@router.get("/tickets/{number}/tasks", response=list[TaskOut], summary="A ticket's tasks")
def list_tasks(request: HttpRequest, number: Id) -> list[TaskOut]:
    """Every task of the ticket, oldest first, each with its history (the mail sent,
    replies, done and reopened)."""
    who = actor(request)
    ticket = access.ticket(who, number)
    return [_task(t, ticket.number) for t in tasks.tasks_of(who, ticket)]


class TaskIn(Schema):
    to: str = Field(
        min_length=3, max_length=320, description="a colleague's or any other email address"
    )
    title: str = Field(min_length=1, max_length=tasks.TITLE_MAX)
    instructions: str = Field("", max_length=tasks.INSTRUCTIONS_MAX)
    include_customer_message: bool = Field(
        False, description="quote the customer's latest message in the task mail"
    )


@router.post(
    "/tickets/{number}/tasks", response={201: TaskOut}, summary="Give a task on a ticket by email"
)
def create_task(request: HttpRequest, response: HttpResponse, number: Id, payload: TaskIn) -> Any:
    """Mails "Task on #N: title" to `to` alone, from the ticket's mailbox, outside the
    customer's thread. Replies to that mail are recorded in the task's history."""
    who = actor(request)
    ticket = access.ticket(who, number)
    task = tasks.create(
        who,
        ticket,
        to=payload.to,
        title=payload.title,
        instructions=payload.instructions,
        include_customer_message=payload.include_customer_message,
    )
    response["Location"] = f"/api/v1/tickets/{ticket.number}/tasks/{task.pk}"
    return Status(201, _task(task, ticket.number))


@router.get("/tickets/{number}/tasks/{pk}", response=TaskOut, summary="One task")
def get_task(request: HttpRequest, number: Id, pk: Id) -> TaskOut:
    who = actor(request)
    ticket = access.ticket(who, number)
    return _task(tasks.task(who, ticket, pk), ticket.number)


class TaskPatch(Schema):
    status: TaskStatus | None = Field(None, description="done, or open again")
    seen: bool = Field(False, description="true: the replies were read (clears new_reply)")


@router.patch("/tickets/{number}/tasks/{pk}", response=TaskOut, summary="Mark a task done or open")
def update_task(request: HttpRequest, number: Id, pk: Id, payload: TaskPatch) -> TaskOut:
    who = actor(request)
    ticket = access.ticket(who, number)
    if payload.status is not None:
        tasks.set_status(who, ticket, pk, payload.status)
    if payload.seen:
        tasks.mark_seen(who, ticket, pk)
    return _task(tasks.task(who, ticket, pk), ticket.number)
