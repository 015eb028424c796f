"""Answering: the composer (reply, note, forward), drafts, presence, undo send, new tickets."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deskmail.console.forms.compose import (
    CannedForm,
    DraftForm,
    ForwardForm,
    NewTicketForm,
    NoteForm,
    ReplyForm,
)
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.outbound.models import OutboxItem
from deskmail.services import access, actions, channel, compose, generation, suggestions
from deskmail.services.errors import Invalid
from deskmail.tickets.models import Draft, Message, Ticket

MODES = ("reply", "note", "forward")


def _latest_incoming(ticket: Ticket) -> Message | None:
    return (
        ticket.messages.filter(direction=Message.Direction.IN, excluded=False)
        .order_by("-received_at", "-id")
        .first()
    )


def composer_context(
    request: ConsoleRequest,
    ticket: Ticket,
    *,
    read_only: bool = False,
    mode: str | None = None,
    reply_form: ReplyForm | None = None,
    note_form: NoteForm | None = None,
    forward_form: ForwardForm | None = None,
    collision: list[str] | None = None,
) -> dict[str, Any]:
    """What the composer shows: the agent's drafts, else the recipients rules' defaults."""
    actor = request.actor
    mode = mode or request.GET.get("compose") or "reply"
    if mode not in MODES or (read_only and mode != "note"):
        mode = "note" if read_only else "reply"
    now = timezone.now()
    if reply_form is None:
        draft = compose.draft_for(actor, ticket, Draft.Kind.REPLY)
        defaults = compose.recipients(ticket)
        reply_form = ReplyForm(
            initial={
                "to": draft.to if draft else ", ".join(defaults.to),
                "cc": draft.cc if draft else ", ".join(defaults.cc),
                "body": draft.body if draft else "",
                "opened_at": now,
            }
        )
    if note_form is None:
        note_draft = compose.draft_for(actor, ticket, Draft.Kind.NOTE)
        note_form = NoteForm(initial={"body": note_draft.body if note_draft else ""})
    if forward_form is None:
        forward_draft = compose.draft_for(actor, ticket, Draft.Kind.FORWARD)
        chosen = request.GET.get("message", "")
        latest = _latest_incoming(ticket)
        message_id = (
            int(chosen)
            if chosen.isdigit()
            else (forward_draft.message_id if forward_draft and forward_draft.message_id else None)
        ) or (latest.pk if latest else None)
        forward_form = ForwardForm(
            ticket,
            initial={
                "message": message_id,
                "to": forward_draft.to if forward_draft else "",
                "cc": forward_draft.cc if forward_draft else "",
                "body": forward_draft.body if forward_draft else "",
                "include_previous": ticket.mailbox.settings.console.forward_include_previous,
            },
        )
    answers = compose.canned_answers(actor, ticket)
    shown = [] if read_only else suggestions.for_ticket(actor, ticket)
    rewriting = bool(shown) and generation.available(ticket)
    return {
        "mode": mode,
        "reply_form": reply_form,
        "note_form": note_form,
        "forward_form": forward_form,
        "canned_form": CannedForm(answers) if answers else None,
        "collision": collision or [],
        "replying": [] if read_only else compose.replying(actor, ticket),
        "undo_seconds": ticket.mailbox.settings.console.undo_send_seconds,
        "read_only": read_only,
        "suggestions": shown,
        "rewriting": rewriting,
        "rewrite": generation.latest(actor, ticket) if rewriting else None,
    }


def _composer(
    request: ConsoleRequest, ticket: Ticket, status: int = 200, **kwargs: Any
) -> HttpResponse:
    """The composer again (a refused send, a collision, a canned answer put in)."""
    # The ticket page's parts; imported here, as that module imports this one.
    from deskmail.console.views.tickets import fields_context, thread_context

    if request.htmx:
        context = {"ticket": ticket, **composer_context(request, ticket, **kwargs)}
        return render(request, "console/ticket.html#composer", context, status=status)
    context = thread_context(request, ticket.number)
    context |= shell(request)
    context |= fields_context(request, ticket)
    context |= composer_context(request, ticket, **kwargs)
    return render(request, "console/ticket.html", context, status=status)


@console_view
@require_POST
def send_reply(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    access.require_act_on(request.actor, ticket)
    form = ReplyForm(request.POST, request.FILES, mailbox=ticket.mailbox)
    if "insert" in request.POST:
        return _insert_canned(request, ticket, form)
    if request.POST.get("suggestion", "").isdigit():
        return _insert_suggestion(request, ticket, int(request.POST["suggestion"]))
    if request.POST.get("rewrite", "").isdigit():
        return _insert_rewrite(request, ticket, int(request.POST["rewrite"]))
    if not form.is_valid():
        return _composer(request, ticket, status=422, mode="reply", reply_form=form)
    data = form.cleaned_data
    try:
        item = compose.send_reply(
            request.actor,
            ticket,
            body=data["body"],
            to=form.to_list(),
            cc=form.cc_list(),
            attachments=form.outgoing(),
            status=data.get("status") or None,
            opened_at=data.get("opened_at"),
            confirmed=bool(data.get("confirmed")),
        )
    except compose.Collision as exc:
        asked = ReplyForm(
            initial={**{k: v for k, v in data.items() if k != "attachments"}, "confirmed": True}
        )
        return _composer(
            request, ticket, status=409, mode="reply", reply_form=asked, collision=exc.changes
        )
    except Invalid as exc:
        form.add_error(None, str(exc))
        return _composer(request, ticket, status=422, mode="reply", reply_form=form)
    when = item.send_after
    messages.success(
        request,
        f"Reply queued to {', '.join(form.to_list())}"
        + (f"; it leaves at {when:%H:%M:%S} UTC unless you undo it." if when else ".")
        + _while_off(),
    )
    return redirect(f"/t/{number}/#message-{item.outgoing_id}")


def _while_off() -> str:
    """What to add to "queued" while the email channel is off."""
    return f" {channel.QUEUED_WHILE_OFF}" if channel.banner() else ""


def _insert_canned(request: ConsoleRequest, ticket: Ticket, form: ReplyForm) -> HttpResponse:
    """Put a canned answer (variables filled) into the reply, keeping what was written."""
    answers = compose.canned_answers(request.actor, ticket)
    picked = CannedForm(answers, request.POST)
    data = {k: request.POST.get(k, "") for k in ("to", "cc", "body", "status", "opened_at")}
    if picked.is_valid():
        text = compose.canned_text(request.actor, ticket, picked.cleaned_data["canned"])
        data["body"] = (
            (data["body"].rstrip() + "\n\n" + text).strip() if data["body"].strip() else text
        )
        compose.save_draft(
            request.actor, ticket, Draft.Kind.REPLY, to=data["to"], cc=data["cc"], body=data["body"]
        )
    return _composer(request, ticket, mode="reply", reply_form=ReplyForm(initial=data))


def _written(request: ConsoleRequest) -> dict[str, str]:
    """What the reply composer held when one of its buttons was pressed."""
    return {k: request.POST.get(k, "") for k in ("to", "cc", "body", "status", "opened_at")}


def _insert_suggestion(request: ConsoleRequest, ticket: Ticket, pk: int) -> HttpResponse:
    """Put a suggested answer into the reply, after what was written (nothing is sent)."""
    data = _written(request)
    try:
        text = suggestions.insert(request.actor, ticket, pk)
    except Invalid as exc:
        messages.error(request, str(exc))
    else:
        data["body"] = suggestions.appended(data["body"], text)
    return _composer(request, ticket, mode="reply", reply_form=ReplyForm(initial=data))


def _insert_rewrite(request: ConsoleRequest, ticket: Ticket, pk: int) -> HttpResponse:
    """Put the rewritten suggestion into the reply, after what was written (nothing is sent)."""
    data = _written(request)
    try:
        text = generation.insert(request.actor, ticket, pk)
    except Invalid as exc:
        messages.error(request, str(exc))
    else:
        data["body"] = suggestions.appended(data["body"], text)
    return _composer(request, ticket, mode="reply", reply_form=ReplyForm(initial=data))


@console_view
@require_POST
def suggestion_rewrite(request: ConsoleRequest, number: int) -> HttpResponse:
    """Have the top suggestion rewritten for this customer; the composer shows the result
    (or the server's failure in words) beside the suggestions, with what was written kept."""
    ticket = access.ticket(request.actor, number)
    generation.rewrite(request.actor, ticket)
    return _composer(request, ticket, mode="reply", reply_form=ReplyForm(initial=_written(request)))


@console_view
@require_POST
def rewrite_draft(request: ConsoleRequest, number: int, rewrite: int) -> HttpResponse:
    """Save the reply draft with the rewritten suggestion appended."""
    ticket = access.ticket(request.actor, number)
    data = _written(request)
    opened = "body" in request.POST
    generation.insert_as_draft(
        request.actor,
        ticket,
        rewrite,
        to=data["to"] if opened else None,
        cc=data["cc"] if opened else None,
        body=data["body"] if opened else None,
    )
    messages.success(request, "The rewritten answer is in your reply draft; nothing was sent.")
    return redirect(f"/t/{number}/?compose=reply#composer")


@console_view
@require_POST
def suggestion_draft(request: ConsoleRequest, number: int, suggestion: int) -> HttpResponse:
    """Save the reply draft with a suggested answer appended (the composer's text kept)."""
    ticket = access.ticket(request.actor, number)
    data = _written(request)
    opened = "body" in request.POST
    suggestions.insert_as_draft(
        request.actor,
        ticket,
        suggestion,
        to=data["to"] if opened else None,
        cc=data["cc"] if opened else None,
        body=data["body"] if opened else None,
    )
    messages.success(request, "The suggested answer is in your reply draft; nothing was sent.")
    return redirect(f"/t/{number}/?compose=reply#composer")


@console_view
@require_POST
def suggestion_vote(request: ConsoleRequest, number: int, suggestion: int) -> HttpResponse:
    """👍 or 👎 on a suggested answer; the composer comes back as it was."""
    ticket = access.ticket(request.actor, number)
    suggestions.feedback(request.actor, ticket, suggestion, vote=request.POST.get("vote", ""))
    if "body" not in request.POST:
        return redirect(f"/t/{number}/?compose=reply#composer")
    return _composer(request, ticket, mode="reply", reply_form=ReplyForm(initial=_written(request)))


@console_view
@require_POST
def add_note(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _composer(request, ticket, status=422, mode="note", note_form=form)
    try:
        note, named = compose.add_note(request.actor, ticket, form.cleaned_data["body"])
    except Invalid as exc:
        form.add_error("body", str(exc))
        return _composer(request, ticket, status=422, mode="note", note_form=form)
    told = f" {', '.join(m.name for m in named)} will be told." if named else ""
    messages.success(request, f"Note added.{told}")
    suffix = "?spy=1" if request.POST.get("spy") == "1" else ""
    return redirect(f"/t/{number}/{suffix}#note-{note.pk}")  # type: ignore[attr-defined]


@console_view
@require_POST
def forward_message(request: ConsoleRequest, number: int) -> HttpResponse:
    ticket = access.ticket(request.actor, number)
    access.require_act_on(request.actor, ticket)
    form = ForwardForm(ticket, request.POST, request.FILES, mailbox=ticket.mailbox)
    if not form.is_valid():
        return _composer(request, ticket, status=422, mode="forward", forward_form=form)
    data = form.cleaned_data
    message = access.message(request.actor, data["message"])
    try:
        item = compose.send_forward(
            request.actor,
            message,
            to=form.to_list(),
            cc=form.cc_list(),
            body=data["body"],
            include_previous=data["include_previous"],
            attachments=form.outgoing(),
        )
    except Invalid as exc:
        form.add_error(None, str(exc))
        return _composer(request, ticket, status=422, mode="forward", forward_form=form)
    messages.success(request, f"Forward queued to {', '.join(form.to_list())}.{_while_off()}")
    return redirect(f"/t/{number}/#message-{item.outgoing_id}")


@console_view
@require_POST
def save_draft(request: ConsoleRequest, number: int) -> HttpResponse:
    """Autosave (htmx, as the agent types): answers with the draft's state in words."""
    ticket = access.ticket(request.actor, number)
    access.require_act_on(request.actor, ticket)
    form = DraftForm(ticket, request.POST)
    if not form.is_valid():
        return HttpResponse("Draft not saved.", status=422, content_type="text/plain")
    data = form.cleaned_data
    message = access.message(request.actor, data["message"]) if data.get("message") else None
    draft = compose.save_draft(
        request.actor,
        ticket,
        data["kind"],
        to=data["to"],
        cc=data["cc"],
        body=data["body"],
        message=message,
    )
    words = f"Draft saved {draft.updated_at:%H:%M:%S} UTC" if draft else "No draft"
    if not request.htmx:
        messages.success(request, words + ".")
        return redirect(f"/t/{number}/?compose={data['kind']}")
    return HttpResponse(words, content_type="text/plain")


@console_view
@require_GET
def presence(request: ConsoleRequest, number: int) -> HttpResponse:
    """Who else is writing a reply here now (polled by the ticket page)."""
    ticket = access.ticket(request.actor, number)
    names = compose.replying(request.actor, ticket)
    return render(request, "console/ticket.html#presence", {"replying": names, "ticket": ticket})


@console_view
@require_POST
def undo_send(request: ConsoleRequest, outbox: int) -> HttpResponse:
    item = access.outbox_item(request.actor, outbox)
    assert item.ticket is not None  # access.outbox_items: a ticket's outgoing mail only
    number = item.ticket.number
    try:
        compose.undo_send(request.actor, outbox)
    except Invalid as exc:
        messages.error(request, str(exc))
        return redirect(f"/t/{number}/")
    messages.success(request, "Not sent. The text is back in your draft.")
    mode = "forward" if item.kind == OutboxItem.Kind.FORWARD else "reply"
    return redirect(f"/t/{number}/?compose={mode}#composer")


@console_view
@require_POST
def retry_outbox(request: ConsoleRequest, outbox: int) -> HttpResponse:
    item = access.outbox_item(request.actor, outbox)
    if actions.retry_outbox(request.actor, item):
        off = _while_off()
        messages.success(
            request, f"It will be sent again.{off}" if off else "It will be sent again now."
        )
    else:
        messages.error(request, "It is not waiting or failed: nothing to retry.")
    assert item.ticket is not None  # access.outbox_items: a ticket's outgoing mail only
    return redirect(f"/t/{item.ticket.number}/#message-{item.outgoing_id}")


@console_view
@require_http_methods(["GET", "POST"])
def new_ticket(request: ConsoleRequest) -> HttpResponse:
    boxes = compose.sending_mailboxes(request.actor)
    form = NewTicketForm(boxes, request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = compose.open_outbound(
                    request.actor,
                    to=form.to_list(),
                    cc=form.cc_list(),
                    subject=data["subject"],
                    body=data["body"],
                    mailbox=data["mailbox"],
                    attachments=form.outgoing(),
                )
            except Invalid as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request, f"Ticket #{ticket.number} opened; the mail is queued.{_while_off()}"
                )
                return redirect(f"/t/{ticket.number}/")
        status = 422
    return render(
        request, "console/new_ticket.html", {**shell(request), "form": form}, status=status
    )
