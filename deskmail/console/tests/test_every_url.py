"""Every address of the project is protected: a test that a new view cannot slip past.

It walks the URL resolver, fills each pattern's parameters with objects of
North, and asks as a visitor (sign-in page, 401 or 404) and as Stan, an agent
of South (404 for anything of North; North's words never on any page). A view
that forgets its check fails here; a pattern with a parameter this test does
not know fails too, until a sample value is added below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from deskmail.console.tests.conftest import NORTH_SECRET, World, north_mail
from deskmail.services import merging
from deskmail.suggest.models import Rewrite, Suggestion
from deskmail.tickets.models import TicketMerge

pytestmark = pytest.mark.django_db

# Pages a visitor may open: the sign-in pages themselves.
PUBLIC = {"home", "admin:login"}
# Called by machines that send no session: Microsoft Graph's change notifications (it
# only wakes a sync when the notification carries the subscription's secret clientState).
MACHINE = {"graph-notifications"}
# Opened by a new sender from our confirmation mail: the signed token is the proof, and
# without a genuine one the page says only that the link is not valid (410).
TOKEN = {"confirm-sender"}
# The API's endpoints are walked from its OpenAPI schema, for every persona, by
# deskmail/api/tests/test_matrix.py (which fails when an operation is left out); the
# API's catch-all for unknown addresses is walked here.
API = "api:"
# Parameters naming no object of a mailbox (a sample value is enough).
NEUTRAL = {
    "app_label": "tickets",
    "model_name": "ticket",
    "url": "x",
    "content_type_id": 1,
    "rest": "v1/nothing-here",
    "kind": "imap",
    "token": "x",
}
# Parameters that name an object of North: Stan must get 404 for every one.
OBJECTS = (
    "number",
    "message",
    "attachment",
    "outbox",
    "merge",
    "object_id",
    "id",
    "suggestion",
    "rewrite",
    "name",
)


@dataclass(frozen=True)
class Route:
    name: str
    template: str  # the route, with <converter:name> or (?P<name>...) parameters
    params: tuple[str, ...]

    @property
    def admin(self) -> bool:
        return self.template.startswith("admin/")

    def __str__(self) -> str:
        return self.name or self.template


_ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def _routes(
    patterns: list[Any], namespace: str = "", prefix: str = "", params: tuple[str, ...] = ()
) -> Iterator[Route]:
    for entry in patterns:
        pattern = entry.pattern
        text = str(pattern).lstrip("^").removesuffix("$").removesuffix("\\Z")
        names = tuple(getattr(pattern, "converters", {}) or pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry.url_patterns, inner, prefix + text, params + names)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield Route(name, prefix + text, params + names)


ROUTES = [r for r in _routes(get_resolver().url_patterns) if not r.name.startswith(API)]


def _suggestion(world: World) -> Suggestion:
    """An answer suggested to Nora on North's ticket."""
    row, _ = Suggestion.objects.get_or_create(
        ticket=world.ticket,
        message=world.message,
        user=world.team.nora,
        rank=1,
        defaults={"score": 1.0, "text": "Try turning it off and on."},
    )
    return row


def _rewrite(world: World) -> Rewrite:
    """A suggestion rewritten for Nora on North's ticket."""
    row, _ = Rewrite.objects.get_or_create(
        ticket=world.ticket,
        message=world.message,
        user=world.team.nora,
        defaults={"answer": f"Rewritten {NORTH_SECRET}.", "model": "m", "endpoint": "e"},
    )
    return row


def _samples(world: World) -> dict[str, Any]:
    """North's object for each parameter name used by a console address."""
    merge = TicketMerge.objects.filter(target=world.ticket).first()
    if merge is None:
        duplicate = north_mail(world.team, subject=f"Same invoice {NORTH_SECRET}")
        merge = merging.merge(world.team.actor(world.team.nora), duplicate, world.ticket)
    return {
        "number": world.ticket.number,
        "message": world.message.pk,
        "attachment": world.attachment.pk,
        "outbox": world.outbox.pk,
        "merge": merge.pk,
        "field": "status",
        "object_id": world.ticket.pk,
        "id": world.team.nora.pk,
        "suggestion": _suggestion(world).pk,
        "rewrite": _rewrite(world).pk,
        "name": world.team.north.name,
        **NEUTRAL,
    }


def _url(route: Route, world: World) -> str:
    samples = _samples(world)
    unknown = [p for p in route.params if p not in samples]
    assert not unknown, f"{route}: add a sample value for {unknown} to this test"

    def fill(match: re.Match[str]) -> str:
        return str(samples[match.group(1)])

    return "/" + _REGEX_PARAM.sub(fill, _ROUTE_PARAM.sub(fill, route.template))


def test_it_walks_the_console_and_the_admin():
    assert any(r.name == "tickets" for r in ROUTES) and any(r.admin for r in ROUTES)
    assert all(r.name for r in ROUTES if not r.admin), "name every console address"


def _check_visitor(route: Route, url: str, world: World) -> None:
    client = world.client()
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        if route.name in PUBLIC and response.status_code == 200:
            continue
        if route.name in MACHINE | TOKEN:
            assert response.status_code < 500 and response.status_code != 200, (method, url)
            assert NORTH_SECRET.encode() not in response.content
            continue
        assert response.status_code in (302, 401, 404, 405), (method, url, response.status_code)
        if response.status_code == 302:
            target = response["Location"]
            assert target.startswith(("/?next=", "/admin/login/")) or target in ("/", "/admin/")
        assert NORTH_SECRET.encode() not in response.content


def _check_south_agent(route: Route, url: str, world: World) -> None:
    client = world.client(world.team.stan)
    names_an_object = any(p in route.params for p in OBJECTS)
    for method in ("get", "post"):
        response = getattr(client, method)(url, follow=False)
        if route.admin:  # Stan is no staff: the admin sends him to its sign-in page
            assert response.status_code in (200, 302, 404, 405) and (
                response.status_code != 200 or route.name in PUBLIC
            ), (method, url, response.status_code)
        elif route.name in MACHINE | TOKEN:
            assert response.status_code < 500 and response.status_code != 200, (method, url)
        elif names_an_object:
            assert response.status_code in (404, 405), (method, url, response.status_code)
        else:
            assert response.status_code < 500, (method, url)
        body = b"" if getattr(response, "streaming", False) else response.content
        assert NORTH_SECRET.encode() not in body, (method, url)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_address_is_protected(route, world):
    """A visitor: the sign-in page, 401 or 404. Stan (South): 404 for North's objects,
    and North's words on no page. Nora (North): an answer, never a server error."""
    url = _url(route, world)

    _check_visitor(route, url, world)
    _check_south_agent(route, url, world)
    if not route.admin:
        response = world.client(world.team.nora).get(url)
        assert response.status_code < 500, (url, response.status_code)
