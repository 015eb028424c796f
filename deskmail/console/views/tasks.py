"""A ticket's tasks: give one by email, mark it done or open again, read its replies."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deskmail.console.forms.tasks import TaskForm, TaskStatusForm
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.views.bodies import frame_policy
from deskmail.services import access, display, tasks, threads
from deskmail.services.errors import Invalid
from deskmail.tickets.models import Ticket

PANEL = "console/ticket.html#tasks"
LIST = "console/ticket.html#task-list"


def tasks_context(
    request: ConsoleRequest, ticket: Ticket, *, read_only: bool = False, **extra: Any
) -> dict[str, Any]:
    """What the ticket page's Tasks panel shows."""
    now = timezone.now()
    rows = [
        {"task": t, "outbox_state": threads.outbox_state(t.outbox_item, now)}
        for t in tasks.tasks_of(request.actor, ticket)
    ]
    return {
        "ticket": ticket,
        "task_rows": rows,
        "task_form": TaskForm(),
        "read_only": read_only,
        **extra,
    }


@console_view
@require_http_methods(["GET", "POST"])
def task_panel(request: ConsoleRequest, number: int) -> HttpResponse:
    """GET: the list (htmx refreshes it); POST: give a new task."""
    ticket = access.ticket(request.actor, number)
    access.require_act_on(request.actor, ticket)
    if request.method == "GET":
        if not request.htmx:
            return redirect(f"/t/{number}/#tasks")
        return render(request, LIST, tasks_context(request, ticket))
    form = TaskForm(request.POST)
    problem = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            task = tasks.create(
                request.actor,
                ticket,
                to=data["to"],
                title=data["title"],
                instructions=data["instructions"],
                include_customer_message=data["include_customer_message"],
            )
        except Invalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            saved = f"Task sent to {task.assignee_address}."
            if not request.htmx:
                messages.success(request, saved)
                return redirect(f"/t/{number}/#task-{task.pk}")
            return render(request, PANEL, tasks_context(request, ticket, task_saved=saved))
    problem = "; ".join(str(m) for errors in form.errors.values() for m in errors)
    if not request.htmx:
        messages.error(request, f"The task was not sent: {problem}")
        return redirect(f"/t/{number}/#tasks")
    context = tasks_context(request, ticket, task_problem=problem)
    context["task_form"] = form
    return render(request, PANEL, context, status=422)


def _after(request: ConsoleRequest, ticket: Ticket, task_pk: int, words: str) -> HttpResponse:
    if request.htmx:
        return render(request, LIST, tasks_context(request, ticket, task_saved=words))
    messages.success(request, words)
    return redirect(f"/t/{ticket.number}/#task-{task_pk}")


@console_view
@require_POST
def task_status(request: ConsoleRequest, number: int, task: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    form = TaskStatusForm(request.POST)
    if not form.is_valid():
        raise Invalid("status must be open or done", field="status")
    found = tasks.set_status(request.actor, ticket, task, form.cleaned_data["status"])
    words = "Task done." if found.status == "done" else "Task open again."
    return _after(request, ticket, found.pk, words)


@console_view
@require_POST
def task_seen(request: ConsoleRequest, number: int, task: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    found = tasks.mark_seen(request.actor, ticket, task)
    return _after(request, ticket, found.pk, "Replies marked as read.")


@console_view
@require_GET
@xframe_options_sameorigin
def task_reply_body(request: ConsoleRequest, number: int, task: int, entry: int) -> HttpResponse:
    """A reply's own formatting, sanitised and framed exactly like a thread's mail."""
    ticket = access.ticket(request.actor, number)
    message = tasks.reply_message(request.actor, ticket, task, entry)
    # Not on a ticket, so its inline images are not served; remote content stays inert.
    shown = display.mail_html(message, show_remote=False, inline_url=lambda _: "")
    response = render(request, "console/mail_frame.html", {"html": shown.html, "shown": shown})
    origin = request.build_absolute_uri("/").rstrip("/")
    response["Content-Security-Policy"] = frame_policy(origin, False)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response
