"""The top suggestion rewritten for the customer over the API: the answer, its log for
review, the server's failures as problems, and the key never in an answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from deskmail.api.tests.conftest import Answer, Api, Callers, customer_ticket
from deskmail.services import actions, generation
from deskmail.services.access import SYSTEM
from deskmail.suggest.models import Rewrite
from deskmail.testing.chatserver import ChatServer
from deskmail.testing.personas import Team
from deskmail.testing.waiting import eventually
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.django_db

FIX = "Hold the power button for ten seconds, then plug it back in."
KEY = "sk-api-3b9d-never-shown"
REWRITTEN = "Dear Bea, hold the power button of your router for ten seconds."


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with ChatServer(models=["llama3.2"], api_key=KEY) as server:
        server.answer = REWRITTEN
        yield server


@pytest.fixture
def ticket(team: Team, chat: ChatServer, django_capture_on_commit_callbacks: Any) -> Ticket:
    old = customer_ticket(team.north, subject="Router dead", body="My router shows no lights.")
    with django_capture_on_commit_callbacks(execute=True):
        actions.reply(team.actor(team.ada), old, body_text=FIX, status="resolved")
    generation.update_config(
        SYSTEM, enabled=True, base_url=chat.base_url, model="llama3.2", api_key=KEY
    )
    return customer_ticket(
        team.north, subject="No lights", body="The router has no lights", sender="bea@shop.example"
    )


def test_an_agent_gets_a_rewrite_puts_it_into_the_draft_and_a_supervisor_reviews_it(
    api: Callers, ticket: Ticket, chat: ChatServer
) -> None:
    made = api.nora.post(f"tickets/{ticket.number}/suggestions/rewrite")
    drafted = api.nora.post(
        f"tickets/{ticket.number}/suggestions/rewrites/{made.json()['id']}/draft"
    )
    reviewed = api.sam.get(f"tickets/{ticket.number}/suggestions/rewrites")

    assert made.status == 201
    assert made.json()["text"] == REWRITTEN and made.json()["model"] == "llama3.2"
    assert drafted.json() == {"body": REWRITTEN}
    (logged,) = reviewed.json()
    assert logged["id"] == made.json()["id"] and logged["inserted"] is True
    assert logged["prompt"] == chat.received()[0].json()["messages"]
    assert FIX in logged["prompt"][1]["content"] and logged["error"] == ""
    assert logged["asked_by"] == "nora@helpdesk.example"
    assert logged["endpoint"] == f"{chat.base_url}/v1/chat/completions"
    assert api.stan.get(f"tickets/{ticket.number}/suggestions/rewrites").status == 404
    assert api.stan.post(f"tickets/{ticket.number}/suggestions/rewrite").status == 404


@pytest.mark.parametrize(("status", "words"), [(500, "answered 500"), (None, "did not answer")])
def test_a_failing_server_is_a_problem_and_the_suggestions_stay(
    api: Callers, ticket: Ticket, chat: ChatServer, status: int | None, words: str
) -> None:
    chat.failing = status
    if status is None:
        generation.update_config(SYSTEM, timeout_seconds=1)
        chat.stall()
    try:
        failed = api.nora.post(f"tickets/{ticket.number}/suggestions/rewrite")
    finally:
        chat.release()

    assert failed.status == (502 if status else 504)
    assert failed.content_type == "application/problem+json"
    assert words in failed.json()["detail"]
    assert api.nora.get(f"tickets/{ticket.number}/suggestions").json()[0]["text"] == FIX
    assert api.nora.get(f"tickets/{ticket.number}/suggestions/rewrites").json()[0]["error"]


def test_the_key_appears_in_no_answer_nor_the_schema(
    api: Callers, ticket: Ticket, chat: ChatServer
) -> None:
    chat.failing = 401
    answers = [
        api.nora.post(f"tickets/{ticket.number}/suggestions/rewrite"),
        api.ada.get(f"tickets/{ticket.number}/suggestions/rewrites"),
        api.ada.get(f"tickets/{ticket.number}/suggestions"),
        api.nobody.get("/api/openapi.json"),
    ]

    assert answers[0].status == 502
    assert all(KEY not in answer.content.decode() for answer in answers)
    assert "rewrite_suggestion" in json.dumps(answers[3].json())


def test_switched_off_it_is_refused_and_nothing_is_sent(
    api: Callers, ticket: Ticket, chat: ChatServer
) -> None:
    generation.update_config(SYSTEM, enabled=False)

    refused = api.nora.post(f"tickets/{ticket.number}/suggestions/rewrite")

    assert refused.status == 422 and "not switched on" in refused.json()["detail"]
    assert chat.received() == []


@pytest.mark.django_db(transaction=True)
def test_a_slow_rewrite_keeps_no_writer_waiting_and_its_retry_gets_the_one_answer(
    api: Callers, ticket: Ticket, chat: ChatServer, team: Team
) -> None:
    path = f"tickets/{ticket.number}/suggestions/rewrite"
    key = {"Idempotency-Key": "rewrite-once"}
    first: list[Answer] = []

    def ask() -> None:
        try:
            first.append(Api(api.nora.token).post(path, headers=key))
        finally:
            connections.close_all()

    chat.stall()
    asking = threading.Thread(target=ask)
    asking.start()
    try:
        eventually(chat.received, what="the model server is asked")
        # While the model server thinks, the database takes other writes at once
        # (on SQLite one writer at a time), and a retry is told that the first still runs.
        noted = actions.note(team.actor(team.ada), ticket, "The customer called meanwhile.")
        retry = api.nora.post(path, headers=key)
    finally:
        chat.release()
        asking.join(60)

    assert noted.pk is not None
    assert (retry.status, retry.headers["Retry-After"]) == (409, "2")
    assert "still running" in retry.json()["detail"]
    (answered,) = first
    assert answered.status == 201 and answered.json()["text"] == REWRITTEN
    again = api.nora.post(path, headers=key)
    assert (again.status, again.content) == (201, answered.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Rewrite.objects.filter(ticket=ticket).count() == 1
    assert len(chat.received()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_rewrite_the_server_failed_is_tried_again_under_the_same_key(
    api: Callers, ticket: Ticket, chat: ChatServer
) -> None:
    path = f"tickets/{ticket.number}/suggestions/rewrite"
    key = {"Idempotency-Key": "rewrite-after-failure"}
    chat.failing = 500
    failed = api.nora.post(path, headers=key)
    chat.failing = None
    answered = api.nora.post(path, headers=key)

    assert (failed.status, answered.status) == (502, 201)
    assert answered.json()["text"] == REWRITTEN
    assert len(chat.received()) == 2
