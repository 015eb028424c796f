"""Email accounts, for admins: the list, one account, switching it on and off, deleting it.

Everything here is for admins only; anyone else gets 404, as for a page that does
not exist. The rules live in `deskmail.services.mailbox_admin`.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.services import mailbox_admin
from deskmail.services.errors import Invalid, NotFound


def _require_admin(request: ConsoleRequest) -> None:
    if not request.actor.is_admin:
        raise NotFound("no such page")


@console_view
@require_GET
def account_list(request: ConsoleRequest) -> HttpResponse:
    _require_admin(request)
    rows = mailbox_admin.accounts(request.actor)
    return render(request, "console/accounts.html", {**shell(request), "rows": rows})


@console_view
@require_GET
def account_detail(request: ConsoleRequest, name: str) -> HttpResponse:
    _require_admin(request)
    row = mailbox_admin.account(request.actor, name)
    return render(request, "console/account.html", {**shell(request), "row": row})


@console_view
@require_POST
def account_switch(request: ConsoleRequest, name: str) -> HttpResponse:
    _require_admin(request)
    enable = request.POST.get("enabled") == "true"
    try:
        mailbox = mailbox_admin.set_enabled(request.actor, name, enable)
    except Invalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{mailbox.name} is {mailbox.status} now.")
    return redirect(_back(request, "/accounts/"))


@console_view
@require_http_methods(["GET", "POST"])
def account_delete(request: ConsoleRequest, name: str) -> HttpResponse:
    _require_admin(request)
    row = mailbox_admin.account(request.actor, name)
    problem = ""
    if request.method == "POST":
        try:
            mailbox_admin.delete(request.actor, name)
        except Invalid as exc:
            problem = str(exc)
        else:
            messages.success(request, f"Deleted the account {name}.")
            return redirect("/accounts/")
    return render(
        request,
        "console/account_delete.html",
        {**shell(request), "row": row, "problem": problem},
        status=422 if problem else 200,
    )


def _back(request: ConsoleRequest, default: str) -> str:
    back = request.POST.get("back", "")
    return back if back.startswith("/accounts/") else default
