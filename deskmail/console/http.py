"""What every console view shares: who is asking, and how service errors become answers.

    @console_view
    def ticket(request: ConsoleRequest, number: int) -> HttpResponse:
        ticket = access.ticket(request.actor, number)   # NotFound -> 404
        ...

A visitor who is not signed in is sent to the sign-in page (an htmx request
gets 401 with HX-Redirect, so the page itself moves); anything a person may
not see is a 404, exactly like what does not exist.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import Forbidden, NotFound

SIGN_IN = "/"


class ConsoleRequest(HttpRequest):
    htmx: HtmxDetails
    actor: Actor


def not_signed_in(request: HttpRequest) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    if htmx or request.headers.get("Accept") == "text/event-stream":
        response = HttpResponse("Sign in first.", status=401, content_type="text/plain")
        response["HX-Redirect"] = SIGN_IN
        return response
    return redirect_to_login(request.get_full_path(), SIGN_IN)


def console_view[**P](
    view: Callable[Concatenate[ConsoleRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Signed-in people only; request.actor set; NotFound -> 404, Forbidden -> 403."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            actor = access.actor_for(request.user)
        except NotFound:
            return not_signed_in(request)
        console_request: Any = request
        console_request.actor = actor
        try:
            return view(console_request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(str(exc)) from exc
        except Forbidden as exc:
            raise PermissionDenied(str(exc)) from exc

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


def render_partial(
    request: ConsoleRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only the named partial when htmx asked for it."""
    name = f"{template}#{partial}" if request.htmx else template
    return render(request, name, context, status=status)
