"""Writing on a ticket: replies (JSON, or multipart with attachments), notes, forwards.

A reply is queued in the outbox exactly as the console queues one: the
recipients rules fill To and Cc unless they are given, the mailbox's template
wraps the text, and the worker sends it.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.errors import ValidationError

from deskmail.api.auth import actor
from deskmail.api.v1 import shapes
from deskmail.api.v1.shapes import NoteOut, OutboxOut
from deskmail.api.v1.types import Id
from deskmail.outbound.compose import OutgoingAttachment
from deskmail.services import access, actions, canned
from deskmail.services.errors import Invalid
from deskmail.tickets.models import Message

router = Router(tags=["replies and notes"])

# Attachments of one reply, together.
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
StatusName = Literal["new", "open", "pending", "resolved", "closed"]


class ReplyIn(Schema):
    body_text: str | None = Field(None, max_length=1_000_000, description="the reply as text")
    body_html: str | None = Field(
        None, max_length=2_000_000, description="or as HTML (sanitised before sending)"
    )
    to: list[str] | None = Field(
        None, max_length=50, description="recipients; left out: the ticket's contact"
    )
    cc: list[str] | None = Field(
        None, max_length=50, description="copies; left out: the latest other sender and Ccs"
    )
    canned_answer: Id | None = Field(
        None, description="a canned answer's id: its text, filled in for this ticket, is the reply"
    )
    status: StatusName | None = Field(None, description="also move the ticket, e.g. to pending")
    mailbox: str | None = Field(None, description="send from this mailbox, not the ticket's")
    public_note: bool = Field(
        False, description="send as a public comment (the mailbox's case-response template)"
    )


def _reply_form_schema() -> dict[str, Any]:
    fields = ReplyIn.model_json_schema()["properties"]
    properties: dict[str, Any] = {
        name: {"type": "string", "description": field.get("description", "")}
        for name, field in fields.items()
        if name not in {"to", "cc", "canned_answer", "public_note"}
    }
    properties["status"] = {**fields["status"]["anyOf"][0]}
    properties["to"] = {"type": "array", "items": {"type": "string"}}
    properties["cc"] = {"type": "array", "items": {"type": "string"}}
    properties["canned_answer"] = {"type": "integer"}
    properties["public_note"] = {"type": "boolean"}
    properties["attachments"] = {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": f"files to attach, {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB together",
    }
    return {"type": "object", "properties": properties}


REPLY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ReplyIn.model_json_schema()},
            "multipart/form-data": {"schema": _reply_form_schema()},
        },
    }
}


def _form_values(request: HttpRequest) -> dict[str, Any]:
    """A multipart reply as ReplyIn's fields: `to`/`cc` repeated or comma-separated."""
    values: dict[str, Any] = {}
    for name in ReplyIn.model_fields:
        if name not in request.POST:
            continue
        if name in {"to", "cc"}:
            values[name] = [
                part.strip()
                for item in request.POST.getlist(name)
                for part in item.split(",")
                if part.strip()
            ]
        else:
            values[name] = request.POST.get(name)
    return values


def _attachments(request: HttpRequest) -> list[OutgoingAttachment]:
    files = request.FILES.getlist("attachments")
    total = sum(upload.size or 0 for upload in files)
    if total > MAX_ATTACHMENT_BYTES:
        raise Invalid(
            f"the attachments have {total} bytes together; at most {MAX_ATTACHMENT_BYTES}",
            field="attachments",
        )
    return [
        OutgoingAttachment(
            upload.name or "attachment",
            upload.content_type or "application/octet-stream",
            upload.read(),
        )
        for upload in files
    ]


def _reply_request(request: HttpRequest) -> tuple[ReplyIn, list[OutgoingAttachment]]:
    multipart = (request.content_type or "").startswith("multipart/")
    try:
        if multipart:
            return ReplyIn.model_validate(_form_values(request)), _attachments(request)
        return ReplyIn.model_validate_json(request.body or b"{}"), []
    except pydantic.ValidationError as exc:
        source = "form" if multipart else "body"
        raise ValidationError(
            [{"loc": (source, *e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        ) from None


@router.post(
    "/tickets/{number}/replies",
    response={201: OutboxOut},
    summary="Reply to the customer",
    openapi_extra=REPLY_BODY,
)
def create_reply(request: HttpRequest, response: HttpResponse, number: Id) -> Any:
    """Queue a reply in the outbox: JSON, or multipart/form-data with `attachments`.

    Give the text (`body_text` and/or `body_html`) or a `canned_answer`. Without
    `to`/`cc` the recipients rules choose them; our own addresses are never mailed.
    """
    who = actor(request)
    ticket = access.ticket(who, number)
    reply, files = _reply_request(request)
    body_text, body_html = reply.body_text, reply.body_html
    if reply.canned_answer is not None:
        if body_text or body_html:
            raise Invalid("give the text or a canned answer, not both", field="canned_answer")
        body_text = canned.text_for(who, ticket, reply.canned_answer)
    item = actions.reply(
        who,
        ticket,
        body_text=body_text,
        body_html=body_html,
        to=reply.to,
        cc=reply.cc,
        attachments=files,
        mailbox=reply.mailbox,
        public_note=reply.public_note,
        status=reply.status,
    )
    response["Location"] = f"/api/v1/outbox/{item.pk}"
    return Status(201, shapes.outbox_item(item))


class NoteIn(Schema):
    body: str = Field(min_length=1, max_length=100_000)


@router.get("/tickets/{number}/notes", response=list[NoteOut], summary="A ticket's notes")
def list_notes(request: HttpRequest, number: Id) -> list[NoteOut]:
    """Internal notes (for colleagues, never sent) and delivery-failure notes, oldest first."""
    ticket = access.ticket(actor(request), number)
    rows = ticket.notes.select_related("author").order_by("created_at", "id")
    return [shapes.note(row, ticket.number) for row in rows]


@router.post("/tickets/{number}/notes", response={201: NoteOut}, summary="Add an internal note")
def create_note(request: HttpRequest, number: Id, payload: NoteIn) -> Any:
    who = actor(request)
    ticket = access.ticket(who, number)
    return Status(201, shapes.note(actions.note(who, ticket, payload.body), ticket.number))


class ForwardIn(Schema):
    to: list[str] = Field(min_length=1, max_length=50)
    cc: list[str] = Field([], max_length=50)
    message: Id | None = Field(
        None, description="the message to forward (its id); left out: the latest from outside"
    )
    body_text: str = Field("", max_length=1_000_000, description="a word on top")
    include_previous: bool = Field(False, description="also forward the message before it")
    mailbox: str | None = Field(None, description="send from this mailbox, not the ticket's")


@router.post("/tickets/{number}/forwards", response={201: OutboxOut}, summary="Forward a message")
def create_forward(
    request: HttpRequest, response: HttpResponse, number: Id, payload: ForwardIn
) -> Any:
    """Forward one of the ticket's messages, with its attachments, to a third party; their
    answer joins the ticket."""
    who = actor(request)
    ticket = access.ticket(who, number)
    if payload.message is not None:
        message = access.message(who, payload.message)
        if message.ticket_id != ticket.pk:
            raise Invalid(f"message {payload.message} is not on ticket #{number}", field="message")
    else:
        latest = (
            ticket.messages.filter(direction=Message.Direction.IN, excluded=False)
            .order_by("-received_at", "-id")
            .first()
        )
        if latest is None:
            raise Invalid(f"ticket #{number} has no message from outside", field="message")
        message = latest
    item = actions.forward(
        who,
        message,
        to=payload.to,
        cc=payload.cc,
        body_text=payload.body_text,
        include_previous=payload.include_previous,
        mailbox=payload.mailbox,
    )
    response["Location"] = f"/api/v1/outbox/{item.pk}"
    return Status(201, shapes.outbox_item(item))
