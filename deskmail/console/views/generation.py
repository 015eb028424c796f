"""Admins: the settings of rewriting suggestions by a chat completions server."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from deskmail.console.forms.generation import GenerationForm
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.services import generation
from deskmail.services.errors import Forbidden, Invalid, NotFound

PAGE = "/settings/generation/"


@console_view
@require_http_methods(["GET", "POST"])
def generation_settings(request: ConsoleRequest) -> HttpResponse:
    try:
        current = generation.config(request.actor)
    except Forbidden:
        raise NotFound("no such page") from None
    if request.method == "POST" and "try" in request.POST:
        try:
            answer = generation.try_server(request.actor)
        except Invalid as exc:
            messages.error(request, f"The server gave no answer: {exc}.")
        else:
            messages.success(request, f"The server answered: {answer[:200]}")
        return redirect(PAGE)
    form = GenerationForm(
        request.POST if request.method == "POST" else None,
        initial={
            "enabled": current.enabled,
            "base_url": current.base_url,
            "model": current.model,
            "timeout_seconds": current.timeout_seconds,
        },
    )
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            generation.update_config(
                request.actor,
                enabled=data["enabled"],
                base_url=data["base_url"],
                model=data["model"],
                api_key="" if data["remove_api_key"] else (data["api_key"] or None),
                timeout_seconds=data["timeout_seconds"],
            )
        except Invalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, "Saved the settings of rewriting suggestions.")
            return redirect(PAGE)
    if form.is_bound:
        status = 422
    context = {**shell(request), "form": form, "config": current}
    return render(request, "console/generation.html", context, status=status)
