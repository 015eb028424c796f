"""The test chat completions server answers as the OpenAI API reference documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from deskmail.testing.chatserver import ChatServer

KEY = "sk-test"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(models=["llama3.2"], api_key=KEY) as running:
        yield running


def post(
    server: ChatServer, body: Any, key: str = KEY, path: str = "/v1/chat/completions"
) -> tuple[int, Any]:
    answer = requests.post(
        server.base_url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    return answer.status_code, answer.json()


CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hello there"}]}


def test_it_answers_a_chat_completion_and_records_the_request(server: ChatServer) -> None:
    server.answer = lambda messages: f"You said: {messages[-1]['content']}"

    status, body = post(server, CHAT)

    assert status == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "You said: Hello there",
    }
    assert body["choices"][0]["finish_reason"] == "stop" and body["model"] == "llama3.2"
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert server.received()[0].json() == CHAT


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        ({"key": "sk-other"}, 401, "invalid_api_key"),
        ({"body": {**CHAT, "model": "gpt-x"}}, 404, "model_not_found"),
        ({"body": {"model": "llama3.2"}}, 400, None),
        ({"path": "/v1/completions"}, 404, None),
    ],
)
def test_it_refuses_with_the_reference_error_object(
    server: ChatServer, call: dict[str, Any], status: int, code: str | None
) -> None:
    got, body = post(
        server,
        call.get("body", CHAT),
        call.get("key", KEY),
        call.get("path", "/v1/chat/completions"),
    )

    assert got == status
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
