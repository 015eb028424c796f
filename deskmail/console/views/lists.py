"""The ticket list: views, filters, advanced search, full text, pages, select many."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from deskmail.console.forms.lists import (
    DEFAULT_VIEW,
    VIEW_LABELS,
    BulkForm,
    ConditionFormSet,
    ExportForm,
    ListFilterForm,
)
from deskmail.console.http import ConsoleRequest, console_view, render_partial
from deskmail.console.shell import shell
from deskmail.services import bulk, queries
from deskmail.services.errors import Invalid
from deskmail.services.search import FIELDS, OPERATOR_LABELS, Condition, describe

PAGE_SIZE = 50
BLANK_CONDITION = {"field": "subject", "operator": "contains", "value": "", "enabled": True}


def _conditions(request: ConsoleRequest) -> tuple[list[Condition], list[dict[str, Any]], str]:
    """The advanced search's conditions, after the add/remove/clear buttons did their part.

    Returns the conditions to search with, the rows to show in the form, and a problem.
    """
    data = request.GET
    if "c-TOTAL_FORMS" not in data or "clear" in data:
        return [], [], ""
    formset = ConditionFormSet(data, prefix="c")
    if not formset.is_valid():
        return [], [], "A condition of the advanced search is not valid; check its field."
    rows = [form.cleaned_data for form in formset.forms if form.cleaned_data]
    remove = data.get("remove", "")
    if remove.isdigit() and int(remove) < len(rows):
        del rows[int(remove)]
    shown = [dict(row) for row in rows]
    if "add" in data:
        shown.append(dict(BLANK_CONDITION))
    conditions = [
        Condition(r["field"], r["operator"], r["value"], r["enabled"])
        for r in rows
        if r["value"].strip() or r["operator"] == "is_empty"
    ]
    return conditions, shown, ""


def _canonical(form: ListFilterForm, rows: list[dict[str, Any]]) -> QueryDict:
    """The list's address without the buttons' one-off parameters (add, remove, cursor)."""
    query = QueryDict(mutable=True)
    for name, value in (form.cleaned_data if form.is_bound else {}).items():
        if name == "cursor" or value in (None, "", []):
            continue
        if isinstance(value, list):
            query.setlist(name, [str(v) for v in value])
        else:
            query[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if rows:
        query["c-TOTAL_FORMS"], query["c-INITIAL_FORMS"] = str(len(rows)), "0"
        for index, row in enumerate(rows):
            for key in ("field", "operator", "value"):
                query[f"c-{index}-{key}"] = row[key]
            if row["enabled"]:
                query[f"c-{index}-enabled"] = "on"
    return query


@console_view
@require_GET
def ticket_list(request: ConsoleRequest) -> HttpResponse:
    actor = request.actor
    form = ListFilterForm(actor, request.GET or {"view": DEFAULT_VIEW})
    conditions, rows, problem = _conditions(request)
    page = queries.Page([], None)
    where = None
    if form.is_valid():
        where = form.to_filter(tuple(conditions))
        try:
            page = queries.ticket_page(
                actor, where, limit=PAGE_SIZE, cursor=form.cleaned_data.get("cursor") or None
            )
        except Invalid as exc:
            problem = str(exc)
    else:
        problem = "Some filters are not valid: " + "; ".join(
            f"{form.fields[name].label or name}: {' '.join(str(e) for e in errors)}"
            for name, errors in form.errors.items()
        )
    canonical = _canonical(form, rows)
    view = (where.view if where else None) or DEFAULT_VIEW
    next_query = canonical.copy()
    if page.next_cursor:
        next_query["cursor"] = page.next_cursor
    context = {
        **shell(request, view),
        "form": form,
        "conditions": ConditionFormSet(initial=rows, prefix="c"),
        "condition_fields": FIELDS.values(),
        "operator_labels": OPERATOR_LABELS,
        "conditions_summary": describe(conditions, where.match if where else "all"),
        "page": page,
        "problem": problem,
        "view": view,
        "view_label": VIEW_LABELS.get(view, view),
        "here": f"/tickets/?{canonical.urlencode()}",
        "next_url": f"/tickets/?{next_query.urlencode()}" if page.next_cursor else "",
        "first_url": f"/tickets/?{canonical.urlencode()}" if form.data.get("cursor") else "",
        "quick_q": form.cleaned_data.get("q", "") if form.is_valid() else "",
        "bulk": BulkForm(actor),
        "now": timezone.now(),
    }
    response = render_partial(request, "console/tickets.html", context, partial="workspace")
    if request.htmx:
        response["HX-Push-Url"] = (
            context["here"] if not page.next_cursor else request.get_full_path()
        )
    return response


def _back(value: str) -> str:
    return value if value.startswith("/tickets/") and "//" not in value else "/tickets/"


@console_view
@require_POST
def bulk_action(request: ConsoleRequest) -> HttpResponse:
    form = BulkForm(request.actor, request.POST)
    back = _back(request.POST.get("back", ""))
    if not form.is_valid():
        errors = "; ".join(" ".join(str(m) for m in e) for e in form.errors.values())
        messages.error(request, f"Nothing was changed: {errors or 'select some tickets first'}")
        return redirect(back)
    data = form.cleaned_data
    numbers = data["tickets"]
    found = bulk.visible(request.actor, numbers)
    if data["action"] == "delete" and not data["confirmed"]:
        return render(
            request,
            "console/confirm_delete.html",
            {**shell(request), "tickets": found, "count": len(found), "back": back, "bulk": True},
        )
    value = {"assign": data["assignee"], "status": data["status"], "tag": data["tag"]}.get(
        data["action"], ""
    )
    result = bulk.apply(request.actor, numbers, data["action"], value)
    verbs = {"assign": "Assigned", "status": "Changed the status of", "tag": "Tagged"}
    messages.success(request, result.summary(verbs.get(data["action"], "Deleted")))
    return redirect(back)


@console_view
@require_POST
def export_csv(request: ConsoleRequest) -> HttpResponse:
    form = ExportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Select the tickets to download first.")
        return redirect(_back(request.POST.get("back", "")))
    # A page's selection at most: built whole (a streamed body would be consumed
    # synchronously under ASGI anyway).
    response = HttpResponse(
        "".join(bulk.csv_lines(request.actor, form.cleaned_data["tickets"])),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="tickets-{stamp}.csv"'
    return response
