"""The API's test kit: a token per persona and a client that sends it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from deskmail.ingest.api import ingest
from deskmail.services import tokens as access_tokens
from deskmail.services.access import SYSTEM
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team
from deskmail.tickets.models import Ticket


@dataclass
class Answer:
    status: int
    headers: Any
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", ""))


class Api:
    """Calls the API as one person (by their token), or as nobody."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.client = Client()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Answer:
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        kwargs: dict[str, Any] = {"headers": sent, **extra}
        if body is not None and "content_type" not in extra:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        elif body is not None:
            kwargs["data"] = body
        url = path if path.startswith("/api/") else f"/api/v1/{path.lstrip('/')}"
        response = getattr(self.client, method.lower())(url, **kwargs)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return Answer(response.status_code, response.headers, content)

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.call("DELETE", path, **kw)


@dataclass
class Callers:
    ada: Api
    sam: Api
    nora: Api
    stan: Api
    nobody: Api

    def __getitem__(self, name: str) -> Api:
        return getattr(self, name)


PERSONAS = ("ada", "sam", "nora", "stan")


@pytest.fixture
def api(team: Team) -> Callers:
    def token_of(user: Any) -> str:
        return access_tokens.create(SYSTEM, user, name="tests")[1]

    return Callers(
        ada=Api(token_of(team.ada)),
        sam=Api(token_of(team.sam)),
        nora=Api(token_of(team.nora)),
        stan=Api(token_of(team.stan)),
        nobody=Api(None),
    )


def customer_ticket(mailbox: Any, **mail: Any) -> Ticket:
    mail.setdefault("to", mailbox.address)
    result = ingest(mailbox, make_email(**mail))
    assert result.ticket is not None, result.trace
    return Ticket.objects.get(pk=result.ticket.pk)


@pytest.fixture
def north_ticket(team: Team) -> Ticket:
    return customer_ticket(team.north, subject="Printer on fire")


@pytest.fixture
def south_ticket(team: Team) -> Ticket:
    return customer_ticket(team.south, subject="Heating broken", sender="Bob <bob@acme.example>")
