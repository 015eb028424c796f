"""One ticket: the thread, its fields edited in place, and what can be done to it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deskmail.console.forms import ticket as ticket_forms
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.console.views import compose as composer
from deskmail.services import (
    access,
    actions,
    archive,
    display,
    fields,
    files,
    generation,
    handover,
    merging,
    reading,
    threads,
)
from deskmail.services.errors import Invalid, NotFound
from deskmail.tickets.models import Ticket


def spying(request: ConsoleRequest, ticket: Ticket) -> bool:
    """A supervisor's read-only look: no read mark, no presence, notes only."""
    return request.GET.get("spy") == "1" and request.actor.supervises_mailbox(ticket.mailbox_id)


def fields_context(request: ConsoleRequest, ticket: Ticket, **extra: Any) -> dict[str, Any]:
    actor = request.actor
    custom = fields.custom_fields(actor, ticket)
    return {
        "ticket": ticket,
        "status_form": ticket_forms.StatusForm(ticket),
        "priority_form": ticket_forms.PriorityForm(ticket),
        "queue_form": ticket_forms.QueueForm(ticket),
        "type_form": ticket_forms.TypeForm(ticket),
        "assignee_form": ticket_forms.AssigneeForm(ticket),
        "tags_form": ticket_forms.TagsForm(ticket),
        "participants_form": ticket_forms.ParticipantsForm(ticket),
        "mailbox_form": ticket_forms.MailboxForm(ticket, actor),
        "custom_fields": [
            {"field": f, "value": (ticket.custom_fields or {}).get(f.name, "")} for f in custom
        ],
        "merges": merging.history(actor, ticket),
        "read_only": spying(request, ticket),
        **extra,
    }


def thread_context(request: ConsoleRequest, number: int) -> dict[str, Any]:
    actor = request.actor
    ticket, items = threads.timeline(actor, number)
    now = timezone.now()
    shown = []
    for item in items:
        entry: dict[str, Any] = {"item": item}
        message = item.message
        if message is not None:
            outbox = getattr(message, "outbox_item", None)
            entry |= {
                "quoted": threads.quoted_rest(message),
                "remote": display.has_remote_content(message),
                "outbox": outbox,
                "outbox_state": threads.outbox_state(outbox, now),
                "attachments": [
                    {"row": a, "preview": files.previewable(a)}
                    for a in message.attachments.all()
                    if not (a.inline and a.content_id and message.body_html)
                ],
            }
        shown.append(entry)
    return {"ticket": ticket, "items": shown, "now": now}


@console_view
@require_GET
def ticket_view(request: ConsoleRequest, number: int) -> HttpResponse:
    actor = request.actor
    context = thread_context(request, number)
    ticket = context["ticket"]
    read_only = spying(request, ticket)
    if not read_only:
        reading.mark_read(actor, ticket)
    context |= shell(request)
    context |= fields_context(request, ticket)
    context |= composer.composer_context(request, ticket, read_only=read_only)
    context["spy"] = read_only
    context["may_spy"] = actor.supervises_mailbox(ticket.mailbox_id)
    context["waiting_transfer"] = handover.open_transfer(ticket)
    context["rewrite_log"] = (
        generation.rewrites(actor, ticket) if generation.may_review(actor, ticket) else []
    )
    if request.htmx and request.GET.get("part") in ("thread", "fields", "header"):
        return render(request, f"console/ticket.html#{request.GET['part']}", context)
    return render(request, "console/ticket.html", context)


FIELD_FORMS = {
    "status": ticket_forms.StatusForm,
    "priority": ticket_forms.PriorityForm,
    "queue": ticket_forms.QueueForm,
    "type": ticket_forms.TypeForm,
    "assignee": ticket_forms.AssigneeForm,
    "tags": ticket_forms.TagsForm,
    "participants": ticket_forms.ParticipantsForm,
    "title": ticket_forms.TitleForm,
}


def _save_field(request: ConsoleRequest, ticket: Ticket, name: str) -> str:
    """Apply one field's form; the words to show next to it."""
    actor = request.actor
    if name == "mailbox":
        form: Any = ticket_forms.MailboxForm(ticket, actor, request.POST)
    elif name.startswith("custom-"):
        form = ticket_forms.CustomFieldForm(request.POST)
    elif name in FIELD_FORMS:
        form = FIELD_FORMS[name](ticket, request.POST)
    else:
        raise Invalid(f"no field {name!r}", field=name)
    if not form.is_valid():
        raise Invalid("; ".join(str(m) for e in form.errors.values() for m in e), field=name)
    data = form.cleaned_data
    if name == "status":
        fields.set_status(actor, ticket, data["status"], data.get("disposition") or "")
    elif name == "priority":
        fields.set_priority(actor, ticket, data["priority"])
    elif name == "queue":
        fields.set_queue(actor, ticket, data["queue"])
    elif name == "type":
        fields.set_type(actor, ticket, data["type"])
    elif name == "assignee":
        actions.assign(actor, ticket, data["assignee"])
    elif name == "tags":
        current = set(ticket.tags.values_list("name", flat=True))
        wanted = set(form.names())
        actions.set_tags(actor, ticket, add=wanted - current, remove=current - wanted)
    elif name == "participants":
        fields.set_participants(actor, ticket, form.addresses())
    elif name == "title":
        fields.set_title(actor, ticket, data["title"])
    elif name == "mailbox":
        fields.move_to_mailbox(actor, ticket, data["mailbox"])
    else:
        fields.set_custom(actor, ticket, name.removeprefix("custom-"), data["value"])
    return "Saved."


@console_view
@require_POST
def ticket_field(request: ConsoleRequest, number: int, field: str) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    try:
        saved, problem = _save_field(request, ticket, field), ""
    except Invalid as exc:
        saved, problem = "", str(exc)
    if field == "mailbox" and not problem and not request.actor.sees(ticket.mailbox_id):
        messages.success(request, f"Moved #{ticket.number} to {ticket.mailbox.name}.")
        return redirect("/tickets/")
    if request.htmx:
        ticket = access.ticket(request.actor, number)
        context = fields_context(request, ticket, saved_field=field, saved=saved, problem=problem)
        return render(
            request, "console/ticket.html#fields", context, status=422 if problem else 200
        )
    if problem:
        messages.error(request, problem)
    else:
        messages.success(request, f"{field.removeprefix('custom-').capitalize()}: saved.")
    return redirect(f"/t/{number}/")


@console_view
@require_POST
def mark_unread(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    reading.mark_unread(request.actor, ticket)
    messages.success(request, f"#{ticket.number} is unread for you again.")
    return redirect("/tickets/")


@console_view
@require_http_methods(["GET", "POST"])
def delete_ticket(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    access.require_act_on(request.actor, ticket)
    form = ticket_forms.DeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.delete(request.actor, ticket)
        messages.success(request, f"Deleted #{number}.")
        return redirect("/tickets/")
    return render(
        request,
        "console/confirm_delete.html",
        {**shell(request), "tickets": [ticket], "count": 1, "back": f"/t/{number}/"},
    )


@console_view
@require_http_methods(["GET", "POST"])
def merge_ticket(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    form = ticket_forms.MergeForm(request.POST or None)
    problem = ""
    if request.method == "POST" and form.is_valid():
        try:
            target = access.ticket(request.actor, form.cleaned_data["target"])
            merging.merge(request.actor, ticket, target)
        except NotFound:
            problem = f"There is no ticket #{form.cleaned_data['target']} you may see."
        except Invalid as exc:
            problem = str(exc)
        else:
            messages.success(request, f"Merged #{ticket.number} into #{target.number}.")
            return redirect(f"/t/{target.number}/")
    return render(
        request,
        "console/merge.html",
        {**shell(request), "ticket": ticket, "form": form, "problem": problem},
        status=422 if problem else 200,
    )


@console_view
@require_POST
def split_message(request: ConsoleRequest, number: int, message: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    found = access.message(request.actor, message)
    if found.ticket_id != ticket.pk:
        raise Http404("no such message on this ticket")
    try:
        record = merging.split(request.actor, found)
    except Invalid as exc:
        messages.error(request, str(exc))
        return redirect(f"/t/{number}/")
    messages.success(request, f"Split into the new ticket #{record.target.number}.")
    return redirect(f"/t/{record.target.number}/")


@console_view
@require_POST
def undo_merge(request: ConsoleRequest, number: int, merge: int) -> HttpResponse:
    access.ticket(request.actor, number)
    record = merging.record(request.actor, merge)
    try:
        merging.undo(request.actor, record)
    except Invalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Undid the {record.kind}.")
    return redirect(f"/t/{number}/")


@console_view
@require_GET
def thread_zip(request: ConsoleRequest, number: int) -> HttpResponse:
    form = ticket_forms.ThreadZipForm(request.GET)
    with_files = bool(form.is_valid() and form.cleaned_data["attachments"])
    name, data = archive.thread_zip(request.actor, number, attachments=with_files)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
