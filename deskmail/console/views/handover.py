"""Handing over: transfer and accept, snooze, the team's load, notification settings."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deskmail.console.forms.handover import NotificationForm, SnoozeForm, TransferForm
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.services import access, handover, mailbox_settings
from deskmail.services.errors import Invalid, NotFound


@console_view
@require_http_methods(["GET", "POST"])
def transfer(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    access.require_act_on(request.actor, ticket)
    form = TransferForm(ticket, request.POST or None)
    problem = ""
    if request.method == "POST" and form.is_valid():
        try:
            handover.transfer(
                request.actor,
                ticket,
                to_user_id=form.cleaned_data["to_user"],
                to_queue=form.cleaned_data["to_queue"],
            )
        except Invalid as exc:
            problem = str(exc)
        else:
            messages.success(request, f"Transferred #{ticket.number}.")
            return redirect(f"/t/{number}/")
    console = ticket.mailbox.settings.console
    return render(
        request,
        "console/transfer.html",
        {
            **shell(request),
            "ticket": ticket,
            "form": form,
            "problem": problem,
            "waiting": handover.open_transfer(ticket),
            "console": console,
        },
        status=422 if problem else 200,
    )


@console_view
@require_POST
def accept_transfer(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    try:
        handover.accept(request.actor, ticket)
    except Invalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"#{ticket.number} is yours now.")
    return redirect(f"/t/{number}/")


@console_view
@require_http_methods(["GET", "POST"])
def snooze(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    access.require_act_on(request.actor, ticket)
    form = SnoozeForm(request.POST or None)
    if request.method == "POST" and "wake" in request.POST:
        handover.unsnooze(request.actor, ticket)
        messages.success(request, f"#{ticket.number} is back in the open lists.")
        return redirect(f"/t/{number}/")
    if request.method == "POST" and form.is_valid():
        try:
            until = form.until_time()
            handover.snooze(request.actor, ticket, until)
        except Invalid as exc:
            form.add_error(None, str(exc))
        except forms.ValidationError as exc:
            form.add_error("until", exc)
        else:
            messages.success(request, f"Snoozed #{ticket.number} until {until:%Y-%m-%d %H:%M} UTC.")
            return redirect("/tickets/")
    return render(
        request,
        "console/snooze.html",
        {**shell(request), "ticket": ticket, "form": form},
        status=422 if form.errors else 200,
    )


@console_view
@require_GET
def team(request: ConsoleRequest) -> HttpResponse:
    rows = handover.team_load(request.actor)
    return render(request, "console/team.html", {**shell(request), "rows": rows})


@console_view
@require_http_methods(["GET", "POST"])
def notification_settings(request: ConsoleRequest) -> HttpResponse:
    boxes = mailbox_settings.supervised(request.actor)
    if not boxes:
        raise NotFound("no mailbox to configure")
    entries = []
    for box in boxes:
        _, console = mailbox_settings.console_settings(request.actor, box.name)
        prefix = f"box-{box.pk}"
        bound = request.method == "POST" and request.POST.get("mailbox") == box.name
        form = NotificationForm(
            request.POST if bound else None,
            prefix=prefix,
            initial={
                "notify_sound": console.notify_sound,
                "notify_shake": console.notify_shake,
                "notify_template": console.notify_template,
            },
        )
        if bound and form.is_valid():
            try:
                mailbox_settings.update_console_settings(
                    request.actor, box.name, **form.cleaned_data
                )
            except Invalid as exc:
                form.add_error("notify_template", str(exc))
            else:
                messages.success(request, f"Saved the notifications of {box.name}.")
                return redirect("/settings/notifications/")
        entries.append({"mailbox": box, "form": form})
    return render(request, "console/notifications.html", {**shell(request), "entries": entries})


@console_view
@require_GET
def nav(request: ConsoleRequest) -> HttpResponse:
    """The sidebar's views and counts, refreshed by live updates."""
    return render(request, "console/_sidebar.html", shell(request, request.GET.get("view")))
