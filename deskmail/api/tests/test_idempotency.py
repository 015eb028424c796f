"""Idempotency-Key: a retried POST creates nothing twice."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from deskmail.api.models import IdempotentRequest
from deskmail.api.tests.conftest import Api, customer_ticket
from deskmail.apitokens.models import AccessToken
from deskmail.outbound.models import OutboxItem
from deskmail.services import tokens as access_tokens
from deskmail.services.access import SYSTEM

pytestmark = pytest.mark.django_db


def _reply(caller, ticket, key, text="Fixed."):
    return caller.post(
        f"tickets/{ticket.number}/replies",
        {"body_text": text},
        headers={"Idempotency-Key": key},
    )


def test_a_retry_gets_the_first_answer_and_creates_nothing(api, north_ticket):
    first = _reply(api.nora, north_ticket, "reply-1")
    again = _reply(api.nora, north_ticket, "reply-1")

    assert first.status == again.status == 201
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert OutboxItem.objects.count() == 1


def test_a_new_key_is_a_new_request_and_keys_belong_to_their_person(api, north_ticket):
    _reply(api.nora, north_ticket, "reply-1")
    _reply(api.nora, north_ticket, "reply-2")
    _reply(api.sam, north_ticket, "reply-1")

    assert OutboxItem.objects.count() == 3


def test_the_same_key_for_another_request_is_refused(api, north_ticket):
    _reply(api.nora, north_ticket, "reply-1")

    other = _reply(api.nora, north_ticket, "reply-1", text="Something else.")

    assert other.status == 422 and other.json()["field"] == "Idempotency-Key"
    assert OutboxItem.objects.count() == 1


def test_a_refused_request_is_answered_the_same_again(api, north_ticket):
    first = api.nora.post(
        f"tickets/{north_ticket.number}/notes", {"body": ""}, headers={"Idempotency-Key": "n"}
    )
    again = api.nora.post(
        f"tickets/{north_ticket.number}/notes", {"body": ""}, headers={"Idempotency-Key": "n"}
    )

    assert first.status == again.status == 422 and again.content == first.content


def test_an_unusable_key_is_named(api, north_ticket):
    answer = _reply(api.nora, north_ticket, "x" * 256)

    assert answer.status == 422 and answer.json()["field"] == "Idempotency-Key"


def test_a_new_tokens_secret_is_not_kept_for_a_retry(api):
    first = api.nora.post("tokens", {"name": "script"}, headers={"Idempotency-Key": "t"})
    again = api.nora.post("tokens", {"name": "script"}, headers={"Idempotency-Key": "t"})

    assert first.status == 201 and again.status == 409
    assert AccessToken.objects.filter(name="script").count() == 1
    token = first.json()["token"]
    assert not any(token.encode() in bytes(row.body) for row in IdempotentRequest.objects.all())


@pytest.mark.django_db(transaction=True)
def test_two_retries_at_once_create_one_reply(team):
    ticket = customer_ticket(team.north)
    caller_token = access_tokens.create(SYSTEM, team.nora)[1]
    answers = []
    start = threading.Barrier(2)

    def send() -> None:
        try:
            start.wait(10)
            answers.append(_reply(Api(caller_token), ticket, "at-once"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(a.status for a in answers) == [201, 201]
    assert answers[0].content == answers[1].content
    assert OutboxItem.objects.count() == 1
