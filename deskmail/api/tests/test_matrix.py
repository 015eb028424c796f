"""Every endpoint for every persona: the authorization matrix of the console, over the API.

Ada is an admin, Sam supervises North, Nora works North, Stan works South. Everything of
North is 404 for Stan (never a hint that it exists); configuration is 403 for everyone but
Ada; without a token, everything is 401. Each call runs in a savepoint that is rolled back,
so every persona meets the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction

from deskmail.api.tests.conftest import PERSONAS, Callers, customer_ticket
from deskmail.services import actions, canned, suggestions, tasks, webhooks
from deskmail.services import tokens as access_tokens
from deskmail.services.access import SYSTEM
from deskmail.suggest.models import Rewrite
from deskmail.webhooks.fanout import fan_out

pytestmark = pytest.mark.django_db

ALL = (200, 200, 200, 200)
NORTH = (200, 200, 200, 404)  # Ada, Sam, Nora see North; Stan does not
ADMIN = (200, 403, 403, 403)
ADMIN_NORTH = (200, 403, 403, 404)
MINE = (404, 404, 200, 404)  # what only Nora was shown


def created(statuses: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(201 if s == 200 else s for s in statuses)


def emptied(statuses: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(204 if s == 200 else s for s in statuses)


@dataclass
class World:
    north: int
    south: int
    message: int
    attachment: int
    contact: int
    outbox: int
    canned_north: int
    webhook: int
    delivery: str
    nora_token: int
    suggestion: int
    task: int
    rewrite: int
    mailbox: str = "north"


@pytest.fixture
def world(team, api) -> World:
    north = customer_ticket(
        team.north, subject="Printer", attachments=[("log.txt", "text/plain", b"paper jam")]
    )
    south = customer_ticket(team.south, subject="Heating", sender="bob@acme.example")
    ada = team.actor(team.ada)
    item = actions.reply(ada, north, body_text="On it.")
    answer = canned.create(ada, name="Thanks", body="Thanks!", mailbox="north")
    endpoint, _ = webhooks.create(ada, "https://hooks.example.com/in")
    actions.note(ada, north, "made after the endpoint")
    fan_out()
    canned.create(ada, name="Printer broken", body="Switch it off and on.", mailbox="north")
    list(suggestions.reindex(SYSTEM))
    shown = suggestions.for_ticket(team.actor(team.nora), north)
    message = north.messages.order_by("id").first()
    # A rewrite Nora asked for (rewriting itself is off here).
    rewrite = Rewrite.objects.create(
        ticket=north, message=message, user=team.nora, answer="Rewritten.", model="m", endpoint="e"
    )
    return World(
        north=north.number,
        south=south.number,
        message=message.pk,
        attachment=message.attachments.get().pk,
        contact=north.contact_id,
        outbox=item.pk,
        canned_north=answer.pk,
        webhook=endpoint.pk,
        delivery=str(endpoint.deliveries.get().delivery_id),
        nora_token=access_tokens.tokens(SYSTEM, everyone=True).get(user=team.nora).pk,
        suggestion=shown[0].id,
        task=tasks.create(ada, north, to="vic@vendor.example", title="Order a part").pk,
        rewrite=rewrite.pk,
    )


# (method, path, body, expected for Ada, Sam, Nora, Stan). Paths are formatted with World.
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("GET", "tickets", None, ALL),
    ("GET", "tickets?view=open&status=new&mailbox=north&total=true", None, ALL),
    (
        "POST",
        "tickets",
        {"mailbox": "north", "to": ["carl@acme.example"], "subject": "Hi", "body_text": "Hello"},
        created(NORTH),
    ),
    ("GET", "tickets/{north}", None, NORTH),
    ("GET", "tickets/{south}", None, (200, 404, 404, 200)),
    ("PATCH", "tickets/{north}", {"priority": "high", "tags": ["vip"]}, NORTH),
    ("DELETE", "tickets/{north}", None, emptied(NORTH)),
    ("GET", "tickets/{north}/messages", None, NORTH),
    ("GET", "tickets/{north}/thread.zip", None, NORTH),
    ("GET", "messages/{message}", None, NORTH),
    ("GET", "messages/{message}/raw", None, NORTH),
    ("GET", "attachments/{attachment}", None, NORTH),
    ("GET", "attachments/{attachment}/content", None, NORTH),
    ("POST", "tickets/{north}/replies", {"body_text": "Fixed."}, created(NORTH)),
    ("GET", "tickets/{north}/notes", None, NORTH),
    ("GET", "tickets/{north}/suggestions", None, NORTH),
    # A suggestion belongs to the person it was shown to (Nora here).
    ("POST", "tickets/{north}/suggestions/{suggestion}/feedback", {"vote": "up"}, MINE),
    ("POST", "tickets/{north}/suggestions/{suggestion}/draft", None, MINE),
    # Off until an admin switches it on.
    ("POST", "tickets/{north}/suggestions/rewrite", None, (422, 422, 422, 404)),
    ("GET", "tickets/{north}/suggestions/rewrites", None, NORTH),
    ("POST", "tickets/{north}/suggestions/rewrites/{rewrite}/draft", None, MINE),
    ("POST", "tickets/{north}/notes", {"body": "Call back."}, created(NORTH)),
    ("POST", "tickets/{north}/forwards", {"to": ["vendor@example.net"]}, created(NORTH)),
    ("GET", "tickets/{north}/tasks", None, NORTH),
    (
        "POST",
        "tickets/{north}/tasks",
        {"to": "vic@vendor.example", "title": "Call"},
        created(NORTH),
    ),
    ("GET", "tickets/{north}/tasks/{task}", None, NORTH),
    ("PATCH", "tickets/{north}/tasks/{task}", {"status": "done"}, NORTH),
    ("GET", "queues", None, ALL),
    ("GET", "ticket-types", None, ALL),
    ("GET", "tags", None, ALL),
    ("GET", "contacts", None, ALL),
    ("GET", "contacts/{contact}", None, NORTH),
    ("GET", "canned-answers", None, ALL),
    ("GET", "canned-answers?mailbox={mailbox}", None, NORTH),
    ("GET", "canned-answers/{canned_north}", None, NORTH),
    ("POST", "canned-answers", {"name": "Bye", "body": "Bye!"}, created(ADMIN)),
    ("PATCH", "canned-answers/{canned_north}", {"body": "Thank you!"}, ADMIN_NORTH),
    ("DELETE", "canned-answers/{canned_north}", None, emptied(ADMIN_NORTH)),
    ("GET", "outbox", None, ALL),
    ("GET", "outbox?ticket={north}", None, NORTH),
    ("GET", "outbox/{outbox}", None, NORTH),
    ("POST", "outbox/{outbox}/retry", None, NORTH),
    ("GET", "mailboxes", None, ALL),
    ("GET", "mailboxes/{mailbox}", None, ADMIN_NORTH),
    ("GET", "mailboxes/{mailbox}/health", None, ADMIN_NORTH),
    ("POST", "mailboxes/{mailbox}/disable", None, ADMIN_NORTH),
    ("POST", "mailboxes/{mailbox}/enable", None, ADMIN_NORTH),
    ("GET", "webhooks", None, ADMIN),
    ("POST", "webhooks", {"url": "https://hooks.example.com/2"}, created(ADMIN)),
    ("GET", "webhooks/{webhook}", None, ADMIN),
    ("PATCH", "webhooks/{webhook}", {"events": ["note.created"]}, ADMIN),
    ("DELETE", "webhooks/{webhook}", None, emptied(ADMIN)),
    ("GET", "webhooks/{webhook}/deliveries", None, ADMIN),
    ("GET", "webhooks/{webhook}/deliveries/{delivery}", None, ADMIN),
    ("POST", "webhooks/{webhook}/deliveries/{delivery}/redeliver", None, ADMIN),
    ("GET", "channel", None, ADMIN),
    ("PUT", "channel", {"on": False, "reason": "moving servers"}, ADMIN),
    ("GET", "me", None, ALL),
    ("GET", "tokens", None, ALL),
    ("POST", "tokens", {"name": "script"}, created(ALL)),
    ("DELETE", "tokens/{nora_token}", None, (204, 404, 204, 404)),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    MATRIX,
    ids=[f"{method} {path}" for method, path, _, _ in MATRIX],
)
def test_each_persona_gets_what_the_policy_says(
    api: Callers, world: World, method: str, path: str, body: Any, expected: tuple[int, ...]
) -> None:
    url = path.format(**world.__dict__)
    got = {}
    for persona in (*PERSONAS, "nobody"):
        with transaction.atomic():
            answer = api[persona].call(method, url, body)
            transaction.set_rollback(True)
        got[persona] = answer.status
        if answer.status >= 400:
            assert answer.content_type == "application/problem+json", (persona, answer.content)

    assert got == {**dict(zip(PERSONAS, expected, strict=True)), "nobody": 401}


def test_the_matrix_covers_every_operation_of_the_schema(api: Callers) -> None:
    schema = api.nobody.get("/api/openapi.json").json()
    documented = {
        (method.upper(), _generic(path.removeprefix("/api/v1/")))
        for path, operations in schema["paths"].items()
        for method in operations
    }
    tested = {(method, _generic(path.split("?")[0])) for method, path, _, _ in MATRIX}

    assert documented - tested == set()


def _generic(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)
