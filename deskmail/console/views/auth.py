"""Signing in and out. The console's address `/` is the sign-in page for a visitor."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from deskmail.console.forms.auth import SignInForm
from deskmail.services import signin
from deskmail.services.errors import Invalid

HOME = "/tickets/"


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return HOME


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    """The sign-in page for a visitor; the ticket list for someone signed in."""
    if request.user.is_authenticated and request.method != "POST":
        return redirect(_next(request))
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = signin.sign_in(
                form.cleaned_data["login"],
                form.cleaned_data["password"],
                request.META.get("REMOTE_ADDR", ""),
                request,
            )
        except Invalid as exc:
            form.add_error(None, str(exc))
            status = 429 if isinstance(exc, signin.Throttled) else 200
        else:
            login(request, user)
            return HttpResponseRedirect(_next(request))
    return render(
        request, "console/sign_in.html", {"form": form, "next": _next(request)}, status=status
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/")
