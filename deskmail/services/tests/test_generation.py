"""Rewriting the top suggestion for the customer: off by default, the prompt as sent and
the answer logged per ticket, every failure of the server told in words, the key kept."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from deskmail.ingest.api import ingest
from deskmail.services import actions, generation, mailbox_settings, suggestions
from deskmail.services.access import SYSTEM
from deskmail.services.errors import Forbidden, Invalid, NotFound
from deskmail.suggest.models import GenerationSettings, Rewrite, Suggestion
from deskmail.testing.builders import make_email
from deskmail.testing.chatserver import ChatServer
from deskmail.testing.personas import Team
from deskmail.tickets.models import Draft, Ticket

pytestmark = pytest.mark.django_db

FIX = "Hold the power button for ten seconds, then plug it back in."
KEY = "sk-test-6c1f0e-never-shown"


def asked(mailbox: Any, subject: str, body: str, **mail: Any) -> Ticket:
    result = ingest(mailbox, make_email(to=mailbox.address, subject=subject, body=body, **mail))
    assert result.ticket is not None, result.trace
    return Ticket.objects.get(pk=result.ticket.pk)


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with ChatServer(models=["llama3.2"], api_key=KEY) as server:
        yield server


@pytest.fixture
def ticket(team: Team, django_capture_on_commit_callbacks: Any) -> Ticket:
    """North solved a dead router before; now Ann asks the same."""
    old = asked(team.north, "Router dead", "My router shows no lights.")
    with django_capture_on_commit_callbacks(execute=True):
        actions.reply(team.actor(team.ada), old, body_text=FIX, status="resolved")
    return asked(
        team.north,
        "No lights",
        "Hi, the router in our shop has no lights at all since this morning.",
        sender="Bea Example <bea@shop.example>",
    )


@pytest.fixture
def on(team: Team, chat: ChatServer) -> generation.Config:
    return generation.update_config(
        team.actor(team.ada),
        enabled=True,
        base_url=chat.base_url,
        model="llama3.2",
        api_key=KEY,
        timeout_seconds=5,
    )


def test_it_is_off_by_default_and_refuses_to_rewrite(team: Team, ticket: Ticket) -> None:
    assert generation.config(SYSTEM).enabled is False
    assert generation.available(ticket) is False
    with pytest.raises(Invalid, match="not switched on"):
        generation.rewrite(team.actor(team.nora), ticket)
    assert generation.latest(team.actor(team.nora), ticket) is None


def test_it_rewrites_the_top_suggestion_and_logs_the_prompt_and_answer(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    chat.answer = "Dear Ann, please hold the power button of the router for ten seconds."
    nora = team.actor(team.nora)

    done = generation.rewrite(nora, ticket)

    sent = chat.received()[0]
    body = sent.json()
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "llama3.2" and body["stream"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    user_part = body["messages"][1]["content"]
    assert "the router in our shop has no lights" in user_part
    assert FIX in user_part and "(Bea Example)" in user_part
    assert "language of the customer's message" in body["messages"][0]["content"]
    assert (done.text, done.error) == (chat.answer, "")
    top = Suggestion.objects.get(ticket=ticket, user=team.nora, rank=1)
    row = Rewrite.objects.get(pk=done.id)
    assert (row.ticket_id, row.user_id, row.suggestion_id) == (ticket.pk, team.nora.pk, top.pk)
    assert row.prompt == body["messages"]
    assert row.answer == chat.answer and row.model == "llama3.2"
    assert row.endpoint == f"{chat.base_url}/v1/chat/completions"
    assert row.duration_ms >= 0 and row.error == ""
    assert generation.latest(nora, ticket) == done


def test_a_base_url_ending_in_v1_is_not_doubled(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    generation.update_config(SYSTEM, base_url=chat.base_url + "/v1/")

    done = generation.rewrite(team.actor(team.nora), ticket)

    assert done.error == "" and chat.received()[0].path == "/v1/chat/completions"


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ({"failing": 500}, "answered 500: The server had an error"),
        ({"garbage": True}, "did not answer with a chat completion"),
        ({"model": "no-such-model"}, "answered 404: The model `no-such-model` does not exist"),
        ({"key": "sk-wrong-key"}, "answered 401: Incorrect API key provided: ********."),
        ({"answer": "word " * 60_000}, "the generation server's answer is over 256 KiB"),
    ],
)
def test_a_failing_server_is_told_in_words_and_logged(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any, setup: dict[str, Any], words: str
) -> None:
    chat.failing = setup.get("failing")
    chat.garbage = setup.get("garbage", False)
    chat.answer = setup.get("answer", chat.answer)
    if "model" in setup:
        generation.update_config(SYSTEM, model=setup["model"])
    if "key" in setup:
        generation.update_config(SYSTEM, api_key=setup["key"])

    done = generation.rewrite(team.actor(team.nora), ticket)

    assert done.text == "" and words in done.error and done.timed_out is False
    assert "sk-wrong-key" not in done.error
    assert Rewrite.objects.get(pk=done.id).error == done.error
    # The plain suggestions are still there.
    assert suggestions.for_ticket(team.actor(team.nora), ticket)[0].text == FIX


def test_a_server_that_does_not_answer_in_time_is_told(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    generation.update_config(SYSTEM, timeout_seconds=1)
    chat.stall()
    try:
        done = generation.rewrite(team.actor(team.nora), ticket)
    finally:
        chat.release()

    assert done.timed_out is True
    assert done.error == (
        f"the generation server at 127.0.0.1:{chat.port} did not answer within 1 second"
    )


def test_a_server_that_is_down_is_told(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    chat.stop()

    done = generation.rewrite(team.actor(team.nora), ticket)

    assert "cannot be reached (connection refused or closed): is it running?" in done.error


def test_the_key_is_encrypted_at_rest_and_never_shown_or_logged(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any, caplog: pytest.LogCaptureFixture
) -> None:
    chat.failing = 401
    caplog.set_level(logging.DEBUG)

    done = generation.rewrite(team.actor(team.nora), ticket)

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM suggest_generationsettings")
        (stored,) = cursor.fetchone()
    assert stored and KEY not in stored
    assert GenerationSettings.objects.get().api_key == KEY
    assert KEY not in repr(GenerationSettings.objects.get().api_key)
    shown = generation.config(SYSTEM)
    assert shown.api_key_set is True and KEY not in repr(shown)
    assert KEY not in repr(done) and KEY not in caplog.text
    assert "rewrite" in caplog.text  # it was logged, without the key


def test_settings_are_for_admins_and_checked(team: Team, chat: ChatServer) -> None:
    with pytest.raises(Forbidden):
        generation.update_config(team.actor(team.sam), enabled=True)
    with pytest.raises(Invalid) as bad_url:
        generation.update_config(SYSTEM, base_url="ftp://example.com")
    with pytest.raises(Invalid) as no_model:
        generation.update_config(SYSTEM, enabled=True, base_url=chat.base_url)
    with pytest.raises(Invalid) as bad_timeout:
        generation.update_config(SYSTEM, timeout_seconds=0)

    assert (bad_url.value.field, no_model.value.field) == ("base_url", "model")
    assert bad_timeout.value.field == "timeout_seconds"
    assert generation.update_config(SYSTEM, api_key="").api_key_set is False


def test_a_mailbox_without_suggestions_gets_no_rewrites(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    mailbox_settings.update_console_settings(SYSTEM, "north", suggestions=False)
    ticket = Ticket.objects.select_related("mailbox").get(pk=ticket.pk)

    with pytest.raises(Invalid, match="not switched on"):
        generation.rewrite(team.actor(team.nora), ticket)
    assert chat.received() == []


def test_only_people_of_the_mailbox_may_rewrite_and_review(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    mine = generation.rewrite(team.actor(team.nora), ticket)
    sams = generation.rewrite(team.actor(team.sam), ticket)

    with pytest.raises(NotFound):
        generation.rewrite(team.actor(team.stan), ticket)
    with pytest.raises(NotFound):
        generation.rewrites(team.actor(team.stan), ticket)
    assert [r.id for r in generation.rewrites(team.actor(team.nora), ticket)] == [mine.id]
    assert [r.id for r in generation.rewrites(team.actor(team.sam), ticket)] == [sams.id, mine.id]
    assert len(generation.rewrites(team.actor(team.ada), ticket)) == 2
    assert generation.rewrites(team.actor(team.sam), ticket)[1].asked_by == mine.asked_by


def test_insert_and_draft_use_the_rewrite_and_count_in_the_report(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    chat.answer = "Dear Ann, hold the power button for ten seconds."
    nora = team.actor(team.nora)
    done = generation.rewrite(nora, ticket)
    chat.failing = 500
    generation.rewrite(nora, ticket)

    text = generation.insert(nora, ticket, done.id)
    draft = generation.insert_as_draft(nora, ticket, done.id, to="bea@shop.example", body="Hi,")
    with pytest.raises(NotFound):
        generation.insert(team.actor(team.sam), ticket, done.id)

    assert text == chat.answer
    assert draft is not None and draft.body == f"Hi,\n\n{chat.answer}"
    assert Draft.objects.get(ticket=ticket, user=team.nora).body == draft.body
    assert Suggestion.objects.get(ticket=ticket, user=team.nora, rank=1).inserted_at is not None
    report = suggestions.report(SYSTEM)
    assert (report.rewrites, report.rewrites_failed, report.rewrites_inserted) == (2, 1, 1)


def test_a_failed_rewrite_cannot_be_inserted_nor_one_for_an_older_message(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    nora = team.actor(team.nora)
    good = generation.rewrite(nora, ticket)
    chat.failing = 503
    failed = generation.rewrite(nora, ticket)
    with pytest.raises(Invalid, match="no text"):
        generation.insert(nora, ticket, failed.id)

    asked(
        team.north,
        f"Re: No lights [NO#{ticket.number}]",
        "Still nothing.",
        in_reply_to=ticket.messages.get().message_id,
    )

    with pytest.raises(Invalid, match="wrote again"):
        generation.insert(nora, ticket, good.id)
    assert generation.latest(nora, ticket) is None


def test_a_key_that_cannot_be_decrypted_is_told_and_breaks_nothing(
    team: Team, ticket: Ticket, chat: ChatServer, on: Any
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE suggest_generationsettings SET api_key = %s", ["gAAAAAB-not-ours"])

    shown = generation.config(SYSTEM)
    done = generation.rewrite(team.actor(team.nora), ticket)

    assert shown.api_key_set is True and generation.available(ticket) is True
    assert done.error.startswith("the stored API key cannot be decrypted")
    assert chat.received() == []
    assert generation.update_config(SYSTEM, api_key=KEY).api_key_set is True
    assert generation.rewrite(team.actor(team.nora), ticket).error == ""
