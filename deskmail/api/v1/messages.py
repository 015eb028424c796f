"""A ticket's messages in order, one message, its raw .eml, attachments, the thread as a zip."""

from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from urllib.parse import quote

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from ninja import Router

from deskmail.api.auth import actor
from deskmail.api.v1 import shapes
from deskmail.api.v1.shapes import AttachmentOut, MessageOut
from deskmail.api.v1.types import Id
from deskmail.services import access, queries
from deskmail.tickets.blobs import read_raw

router = Router(tags=["messages"])

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _download(data_name: str, content_type: str, filename: str) -> FileResponse:
    response = FileResponse(
        default_storage.open(data_name, "rb"), content_type=content_type, as_attachment=True
    )
    response["Content-Disposition"] = _disposition(filename)
    return response


def _disposition(filename: str) -> str:
    """An attachment disposition with an ASCII fallback and the RFC 6266/5987 UTF-8 name."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = _UNSAFE.sub("_", plain).strip("._") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _binary(media_type: str, description: str) -> dict[str, object]:
    return {
        "responses": {
            "200": {
                "description": description,
                "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    }


@router.get("/tickets/{number}/messages", response=list[MessageOut], summary="A ticket's messages")
def list_messages(request: HttpRequest, number: Id) -> list[MessageOut]:
    """Every message of the ticket in arrival order, ours (direction `out`) included: headers,
    text, sanitised HTML, the new part of a reply (`reply_text`), attachments and the trace of
    what the pipeline decided."""
    ticket, messages = queries.thread(actor(request), number)
    return [shapes.message(m, ticket.number) for m in messages]


@router.get("/messages/{pk}", response=MessageOut, summary="One message")
def get_message(request: HttpRequest, pk: Id) -> MessageOut:
    found = access.message(actor(request), pk)
    assert found.ticket is not None
    return shapes.message(found, found.ticket.number)


@router.get(
    "/messages/{pk}/raw",
    url_name="message_raw",
    summary="The raw .eml",
    openapi_extra=_binary("message/rfc822", "the message exactly as it was received or sent"),
)
def message_raw(request: HttpRequest, pk: Id) -> FileResponse:
    found = access.message(actor(request), pk)
    return _download(found.raw_name, "message/rfc822", f"message-{found.pk}.eml")


@router.get("/attachments/{pk}", response=AttachmentOut, summary="An attachment's details")
def get_attachment(request: HttpRequest, pk: Id) -> AttachmentOut:
    return shapes.attachment(access.attachment(actor(request), pk))


@router.get(
    "/attachments/{pk}/content",
    url_name="attachment_content",
    summary="An attachment's bytes",
    openapi_extra=_binary(
        "application/octet-stream",
        "the bytes, always as a download (its type is in the attachment's details)",
    ),
)
def attachment_content(request: HttpRequest, pk: Id) -> FileResponse:
    found = access.attachment(actor(request), pk)
    return _download(found.blob.name, "application/octet-stream", found.filename)


@router.get(
    "/tickets/{number}/thread.zip",
    summary="The whole thread as a zip",
    openapi_extra=_binary(
        "application/zip", "ticket.json and every message as NNN-<direction>.eml, in order"
    ),
)
def thread_zip(request: HttpRequest, number: Id) -> HttpResponse:
    ticket, messages = queries.thread(actor(request), number)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        summary = shapes.ticket(ticket).model_dump(mode="json")
        archive.writestr("ticket.json", json.dumps(summary, indent=2, ensure_ascii=False))
        for position, message in enumerate(messages, start=1):
            archive.writestr(
                f"{position:03d}-{message.direction}.eml", read_raw(message.raw_sha256)
            )
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = _disposition(f"ticket-{ticket.number}.zip")
    return response
