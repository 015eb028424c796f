"""Attachments: download, a safe preview (images and PDFs, told by their bytes), and the
inline images of a sandboxed mail frame."""

from __future__ import annotations

from urllib.parse import quote

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from deskmail.console.http import ConsoleRequest, console_view
from deskmail.services import access, files
from deskmail.services.errors import NotFound
from deskmail.tickets.models import Attachment

# Served files are documents of their own: never script, never framed, never sniffed.
FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def _disposition(kind: str, name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("\\", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _file(attachment: Attachment, data: bytes, content_type: str, inline: bool) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = _disposition(
        "inline" if inline else "attachment", attachment.filename or "attachment"
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@console_view
@require_GET
def attachment_download(request: ConsoleRequest, attachment: int) -> HttpResponse:
    found = access.attachment(request.actor, attachment)
    response = _file(found, files.read(found), "application/octet-stream", inline=False)
    response["Content-Security-Policy"] = FILE_POLICY
    return response


@console_view
@require_GET
def attachment_preview(request: ConsoleRequest, attachment: int) -> HttpResponse:
    """Images and PDFs inline, with the type their bytes show; anything else is not previewed."""
    found = access.attachment(request.actor, attachment)
    data = files.read(found)
    kind = files.sniff(data)
    if kind is None:
        raise Http404("no preview for this file")
    response = _file(found, data, kind, inline=True)
    if kind != "application/pdf":  # the browser's PDF viewer does not run in a sandbox
        response["Content-Security-Policy"] = FILE_POLICY
    return response


@require_GET
def attachment_inline(request: HttpRequest, attachment: int) -> HttpResponse:
    """An inline image for a sandboxed mail frame: by the signed address, for its person."""
    token = request.GET.get("t", "")
    try:
        found = files.inline_attachment(token, attachment)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    data = files.read(found)
    kind = files.sniff(data)
    if kind is None or kind == "application/pdf":
        raise Http404("not an image")
    response = _file(found, data, kind, inline=True)
    response["Content-Security-Policy"] = FILE_POLICY
    return response
