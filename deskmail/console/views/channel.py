"""The email channel switch, for admins: off (no mail fetched or sent) and on again.

Anyone else gets 404, as for a page that does not exist. The rules live in
`deskmail.services.channel`; every page's banner comes from `console.shell`, and
pages with live updates fetch it again (`channel/banner/`) when the switch changes.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from deskmail.console.forms.channel import ChannelForm
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.services import access, channel
from deskmail.services.errors import Forbidden, Invalid, NotFound


@console_view
@require_http_methods(["GET", "POST"])
def channel_page(request: ConsoleRequest) -> HttpResponse:
    actor = request.actor
    try:
        access.require_admin(actor)
    except Forbidden:
        raise NotFound("no such page") from None
    form = ChannelForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            on = form.cleaned_data["on"]
            try:
                channel.switch(actor, on, form.cleaned_data["reason"])
            except Invalid as exc:
                form.add_error("reason", str(exc))
            else:
                messages.success(
                    request,
                    "The email channel is on: mail is fetched and sent again."
                    if on
                    else "The email channel is off: no mail is fetched or sent until it is "
                    "switched on; what agents write waits in the outbox.",
                )
                return redirect("/channel/")
        status = 422
    return render(
        request,
        "console/channel.html",
        {
            **shell(request),
            "state": channel.state(actor),
            "activity": channel.activity(),
            "form": form,
        },
        status=status,
    )


@console_view
@require_GET
def channel_banner(request: ConsoleRequest) -> HttpResponse:
    """The banner alone (empty while on): open pages ask again when the switch changes."""
    return render(request, "console/_channel_off.html", {"channel_off": channel.banner()})
