"""A mail's own content: its HTML in a sandboxed frame, the trace, the raw .eml; the mail
kept on no ticket.

The frame's document gets a Content-Security-Policy of its own: no script at
all, nothing from another host (unless the agent asked to show remote
content), styles only inline, framed by our own pages only, and sandboxed even
when opened directly. The frame element adds `sandbox` without allow-scripts.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.services import access, display, files, queries
from deskmail.services.errors import NotFound
from deskmail.tickets.models import Attachment

FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"


def frame_policy(origin: str, remote: bool) -> str:
    images = f"{origin} https: http:" if remote else origin
    return "; ".join(
        [
            "default-src 'none'",
            f"img-src {images}",
            "style-src 'unsafe-inline'",
            "font-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
            f"sandbox {FRAME_SANDBOX}",
        ]
    )


@console_view
@require_GET
@xframe_options_sameorigin
def message_body(request: ConsoleRequest, message: int) -> HttpResponse:
    actor = request.actor
    found = access.message(actor, message)
    remote = request.GET.get("remote") == "1" or display.trusts(actor, found.from_address)

    def inline_url(attachment: Attachment) -> str:
        token = files.inline_token(actor, attachment)
        return f"/attachments/{attachment.pk}/inline/?t={token}"

    shown = display.mail_html(found, show_remote=remote, inline_url=inline_url)
    response = render(request, "console/mail_frame.html", {"html": shown.html, "shown": shown})
    origin = request.build_absolute_uri("/").rstrip("/")
    response["Content-Security-Policy"] = frame_policy(origin, remote)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


@console_view
@require_POST
def trust_sender(request: ConsoleRequest, message: int) -> HttpResponse:
    found = access.message(request.actor, message)
    address = display.trust_sender(request.actor, found)
    messages.success(request, f"Remote content is now shown for mail from {address}.")
    assert found.ticket is not None
    return redirect(f"/t/{found.ticket.number}/#message-{found.pk}")


@console_view
@require_GET
def message_trace(request: ConsoleRequest, message: int) -> HttpResponse:
    found = access.traced_message(request.actor, message)
    return render(
        request,
        "console/trace.html",
        {**shell(request), "message": found, "ticket": found.ticket, "trace": found.trace or []},
    )


@console_view
@require_GET
def kept_mail(request: ConsoleRequest) -> HttpResponse:
    """Mail kept on no ticket, for admins: each with the trace that says why."""
    if not request.actor.is_admin:
        raise NotFound("no such page")
    rows = queries.kept_mail(request.actor, reason=request.GET.get("reason", "").strip())
    return render(
        request,
        "console/kept.html",
        {**shell(request), "rows": rows, "reason": request.GET.get("reason", "")},
    )


@console_view
@require_GET
def raw_message(request: ConsoleRequest, message: int) -> HttpResponse:
    found, raw = files.raw_message(request.actor, message)
    response = HttpResponse(raw, content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{found.pk}.eml"'
    return response
