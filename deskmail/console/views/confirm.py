"""The public page behind a new sender's confirmation link (no sign-in: the link is the proof)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from deskmail.services import confirmations
from deskmail.services.errors import Invalid


@require_http_methods(["GET", "POST"])
def confirm_sender(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            done = confirmations.confirm(token)
            return render(request, "console/confirm.html", {"done": True, "mailbox": done.mailbox})
        found = confirmations.waiting(token)
    except Invalid as exc:
        return render(request, "console/confirm.html", {"problem": str(exc)}, status=410)
    response = render(request, "console/confirm.html", {"mailbox": found.mailbox})
    response["Referrer-Policy"] = "no-referrer"
    return response
