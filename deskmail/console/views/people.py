"""People and teams for admins: what `deskmail users create` and `deskmail mailboxes agents`
do, in the console."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from deskmail.console.forms.people import PersonForm, TeamForm
from deskmail.console.http import ConsoleRequest, console_view
from deskmail.console.shell import shell
from deskmail.services import access, people
from deskmail.services.access import Role
from deskmail.services.errors import Forbidden, Invalid, NotFound


@console_view
@require_http_methods(["GET", "POST"])
def people_page(request: ConsoleRequest) -> HttpResponse:
    actor = request.actor
    try:
        access.require_admin(actor)
    except Forbidden:
        raise NotFound("no such page") from None
    boxes = list(access.mailboxes(actor).values_list("name", flat=True))
    person = PersonForm(boxes, request.POST if "create" in request.POST else None)
    team = TeamForm(boxes, request.POST if "team" in request.POST else None)
    status = 200
    if request.method == "POST":
        try:
            if person.is_bound and person.is_valid():
                data = person.cleaned_data
                people.create_user(
                    actor,
                    data["email"],
                    Role(data["role"]),
                    mailboxes=data["mailboxes"],
                    password=data["password"] or None,
                )
                messages.success(request, f"Created {data['email']}.")
                return redirect("/people/")
            if team.is_bound and team.is_valid():
                data = team.cleaned_data
                mailbox = access.mailbox(actor, data["mailbox"])
                if data["remove"]:
                    done = people.remove_from_team(actor, mailbox, [data["email"]])
                    messages.success(
                        request, f"Removed {', '.join(done) or 'nobody'} from {mailbox.name}."
                    )
                else:
                    people.add_to_team(actor, mailbox, [data["email"]], data["role"])
                    messages.success(request, f"{data['email']} is on the team of {mailbox.name}.")
                return redirect("/people/")
        except (Invalid, NotFound) as exc:
            (person if person.is_bound else team).add_error(None, str(exc))
        status = 422
    return render(
        request,
        "console/people.html",
        {**shell(request), "rows": people.everyone(actor), "person": person, "team": team},
        status=status,
    )
