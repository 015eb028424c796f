"""Email accounts, for admins: the list, adding and editing, the connection test, OAuth2
sign-in (Connect, Reauthorize, the provider's callback), switching on and off, deleting.

Everything here is for admins only; anyone else gets 404, as for a page that does
not exist. The rules live in `deskmail.services.mailbox_admin`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deskmail.connectors.testconn import Step
from deskmail.console.forms.accounts import AccountForm, kind_for
from deskmail.console.forms.mailbox_settings import SettingsForm
from deskmail.console.forms.routing import RoutingForm
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.mailboxes.presets import KIND_BY_KEY, KINDS, Kind
from deskmail.services import access, mailbox_admin, routing_rules
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
def account_test(request: ConsoleRequest, name: str) -> HttpResponse:
    """Run `deskmail mailboxes test` on the saved account and show each step's verdict."""
    _require_admin(request)
    row = mailbox_admin.account(request.actor, name)
    results = _verdicts(mailbox_admin.test(request.actor, name))
    return render(
        request, "console/account.html", {**shell(request), "row": row, "results": results}
    )


SIGN_INS = "deskmail:oauth-sign-ins"


@console_view
@require_GET
def account_connect(request: ConsoleRequest, name: str) -> HttpResponse:
    """Send the browser to the provider's sign-in (PKCE); the verifier stays in the session.

    A link, not a form: the console's Content-Security-Policy (`form-action 'self'`)
    rightly stops a form whose answer redirects to another site. Starting a sign-in
    changes nothing but this session's list of sign-ins waiting for an answer, and
    only the admin's own consent at the provider completes one.
    """
    _require_admin(request)
    state = secrets.token_urlsafe(24)
    try:
        pending = mailbox_admin.start_sign_in(request.actor, name, state)
    except Invalid as exc:
        messages.error(request, f"Could not start the sign-in: {exc}")
        return redirect("account", name)
    waiting = dict(request.session.get(SIGN_INS) or {})
    # A few at most: an admin who started and never came back leaves no pile behind.
    waiting = dict(list(waiting.items())[-4:])
    waiting[state] = {"mailbox": name, "verifier": pending.verifier}
    request.session[SIGN_INS] = waiting
    return redirect(pending.url)


@console_view
@require_GET
def oauth_callback(request: ConsoleRequest) -> HttpResponse:
    """Where the provider sends the browser back: keep the tokens, then test the account."""
    _require_admin(request)
    waiting = dict(request.session.get(SIGN_INS) or {})
    pending = waiting.pop(request.GET.get("state", ""), None)
    if pending is None:
        raise NotFound("no sign-in waits for this answer")
    request.session[SIGN_INS] = waiting
    name = str(pending["mailbox"])
    try:
        grant = mailbox_admin.finish_sign_in(
            request.actor, name, str(pending["verifier"]), request.GET.dict()
        )
    except Invalid as exc:
        messages.error(request, f"The sign-in did not work: {exc}")
        return redirect("account", name)
    who = f" as {grant.account}" if grant.account else ""
    messages.success(request, f"Connected {name}{who}.")
    row = mailbox_admin.account(request.actor, name)
    results = _verdicts(mailbox_admin.test(request.actor, name))
    return render(
        request, "console/account.html", {**shell(request), "row": row, "results": results}
    )


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


# -- adding and changing ------------------------------------------------------------------


@console_view
@require_GET
def account_new(request: ConsoleRequest) -> HttpResponse:
    """Step one of adding an account: which kind."""
    _require_admin(request)
    return render(request, "console/account_kinds.html", {**shell(request), "kinds": KINDS})


@console_view
@require_http_methods(["GET", "POST"])
def account_add(request: ConsoleRequest, kind: str) -> HttpResponse:
    _require_admin(request)
    if kind not in KIND_BY_KEY:
        raise NotFound(f"no kind of account {kind!r}")
    chosen: Kind = KIND_BY_KEY[kind].key
    return _account_form(request, AccountForm(chosen, request.POST or None), name=None)


@console_view
@require_http_methods(["GET", "POST"])
def account_edit(request: ConsoleRequest, name: str) -> HttpResponse:
    _require_admin(request)
    mailbox = access.mailbox(request.actor, name)
    try:
        settings = mailbox.settings
    except ValueError as exc:  # stored before a schema change: YAML shows every problem
        messages.error(
            request,
            f"The stored settings of {name} no longer pass the schema, so the form cannot "
            f"show them; fix them with `deskmail mailboxes load`. ({exc.__class__.__name__})",
        )
        return redirect("account", name)
    initial = AccountForm.initial_from(settings, mailbox.status)
    form = AccountForm(kind_for(settings), request.POST or None, initial=initial, editing=True)
    more = SettingsForm(request.POST or None, config=settings)
    return _account_form(request, form, name=mailbox.name, more=more)


def _account_form(
    request: ConsoleRequest,
    form: AccountForm,
    *,
    name: str | None,
    more: SettingsForm | None = None,
) -> HttpResponse:
    form.redirect_uri = request.build_absolute_uri("/oauth/callback/")
    results = None
    status = 200
    if request.method == "POST" and "fill" in request.POST:
        form.fill_from_service()
        form = _rebound(form)
        more = SettingsForm(config=None, initial=request.POST.dict()) if more else None
    elif request.method == "POST" and form.is_valid() and (more is None or more.is_valid()):
        typed = _secrets(form, creating=name is None)
        changes = _changes(form, more)
        try:
            if typed is not None and "test" in request.POST:
                results = mailbox_admin.try_account(request.actor, changes, typed, name=name)
            elif typed is not None:
                mailbox = mailbox_admin.save_account(request.actor, changes, typed, name=name)
                messages.success(request, f"Saved the account {mailbox.name}.")
                return redirect("account", mailbox.name)
        except mailbox_admin.AccountInvalid as exc:
            problems = more.take_problems(exc.problems) if more is not None else exc.problems
            form.add_problems(problems)
    if (form.is_bound and form.errors) or (more is not None and more.is_bound and more.errors):
        status = 422
    return render(
        request,
        "console/account_form.html",
        {
            **shell(request),
            "form": form,
            "kind": form.kind,
            "name": name,
            "results": _verdicts(results),
            "more": more,
        },
        status=status,
    )


def _changes(form: AccountForm, more: SettingsForm | None) -> dict[str, Any]:
    """The connection's settings and the other sections' together."""
    changes = form.changes()
    if more is not None:
        for section, values in more.changes().items():
            current = changes.get(section)
            changes[section] = {**values, **current} if isinstance(current, dict) else values
    return changes


def _rebound(form: AccountForm) -> AccountForm:
    """The form again with the filled-in values, unbound: nothing was submitted yet, so no
    field is shown as wrong."""
    values = {**form.initial, **{k: form.data.get(k) for k in form.data if k in form.fields}}
    fresh = AccountForm(form.kind_key, initial=values, editing=form.editing)
    fresh.redirect_uri = form.redirect_uri
    return fresh


def _secrets(form: AccountForm, *, creating: bool) -> mailbox_admin.Secrets | None:
    data = form.cleaned_data
    password = data.get("password") or None
    uses_password = "password" in form.fields and data.get("sign_in", "password") == "password"
    if creating and uses_password and not password:
        form.add_error("password", "Enter the password (or app password) of the account.")
        return None
    return mailbox_admin.Secrets(
        inbound=password,
        outbound=data.get("smtp_password") or password,
        oauth_client=data.get("client_secret") or None,
    )


# What to correct when a step fails, by the start of the step's name.
STEP_FIELDS = {
    ("inbound", "connect"): "Incoming server",
    ("inbound", "log in"): "User name and password",
    ("outbound", "connect"): "Outgoing server",
    ("outbound", "log in"): "Outgoing user name and password",
    ("inbound", "list folders"): "Folder",
    ("inbound", "credentials"): "OAuth2",
}
# What to correct when reaching the server failed for a known cause (Step.cause): the
# form's own field, more precise than the server's name.
CAUSE_FIELDS = {
    "port": "{side} port",
    "security": "{side} security",
    "certificate": "{side} security (the server's certificate is not trusted)",
}


def _verdicts(results: Mapping[Any, list[Step] | None] | None) -> list[dict[str, Any]] | None:
    if results is None:
        return None
    out = []
    for direction, steps in results.items():
        rows = []
        for step in steps or []:
            check = ""
            side = "Incoming" if direction == "inbound" else "Outgoing"
            if not step.ok and step.cause in CAUSE_FIELDS:
                check = CAUSE_FIELDS[step.cause].format(side=side)
            elif not step.ok:
                check = next(
                    (
                        f
                        for (d, start), f in STEP_FIELDS.items()
                        if d == direction and step.name.startswith(start)
                    ),
                    "",
                )
            rows.append({"step": step, "check": check})
        out.append(
            {
                "direction": "Incoming" if direction == "inbound" else "Outgoing",
                "configured": steps is not None,
                "steps": rows,
                "ok": steps is not None and all(s.ok for s in steps),
            }
        )
    return out


@console_view
@require_http_methods(["GET", "POST"])
def account_routing(request: ConsoleRequest, name: str) -> HttpResponse:
    """The account's routing and triggers as YAML: saved, or first tried on an email."""
    _require_admin(request)
    mailbox, stored = routing_rules.routing_yaml(request.actor, name)
    form = RoutingForm(request.POST or None, request.FILES or None, initial={"routing": stored})
    trial: routing_rules.Trial | None = None
    problems: list[routing_rules.Problem] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["routing"]
        try:
            if "try" in request.POST:
                trial = routing_rules.try_routing(request.actor, name, text, form.trial_bytes())
            else:
                routing_rules.save_routing(request.actor, name, text)
                messages.success(request, f"Saved the routing of {mailbox.name}.")
                return redirect("account-routing", mailbox.name)
        except routing_rules.RoutingInvalid as exc:
            problems = exc.problems
            status = 422
        except Invalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            status = 422
    elif form.is_bound:
        status = 422
    context = {
        **shell(request),
        "mailbox": mailbox,
        "form": form,
        "problems": problems,
        "trial": trial,
    }
    return render(request, "console/account_routing.html", context, status=status)
