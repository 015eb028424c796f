"""A local OpenAI-compatible chat completions server for tests; records every request.

It follows the OpenAI API reference, "Chat Completions": "Create chat completion",
`POST /v1/chat/completions` with a JSON body naming the `model` and the `messages`
(each a `role` of system, user or assistant and its `content`), answered with a
`chat.completion` object (`choices[0].message` of role `assistant`, `finish_reason`,
`usage`); errors are the reference's error object, `{"error": {"message", "type",
"param", "code"}}`, with 401 for a missing or wrong bearer key, 404 for an unknown
model and 400 for a body that is not a chat request. Ollama serves the same path.

    with ChatServer(models=["llama3.2"], api_key="sk-test") as server:
        ... server.base_url ...             # http://127.0.0.1:PORT
        server.answer = "Dear Ann, ..."     # or a function of the messages
        server.failing = 500                # answer with that status and an error object
        server.garbage = True               # 200 with a body that is not JSON
        server.stall()                      # hold answers until released (a timeout test)
        server.release()
        server.requests[0].json()["messages"]

Plain HTTP/1.1 on loopback (`LoopbackHTTPServer`), in threads of the test process.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from deskmail.testing.loopback import Serving

PATH = "/v1/chat/completions"
# The longest a stalled answer is held, should a test forget to release it.
LONGEST_STALL = 60.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = str | Callable[[list[dict[str, Any]]], str]


class ChatServer:
    def __init__(self, models: list[str] | None = None, api_key: str = "") -> None:
        self.models = models or ["llama3.2"]
        self.api_key = api_key
        self.answer: Answer = "A rewritten answer."
        self.failing: int | None = None
        self.garbage = False
        self.requests: list[Received] = []
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._serving: Serving | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stall(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def _completion(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request["messages"]
        answer = self.answer if isinstance(self.answer, str) else self.answer(messages)
        words = sum(len(str(m.get("content", "")).split()) for m in messages)
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": words,
                "completion_tokens": len(answer.split()),
                "total_tokens": words + len(answer.split()),
            },
        }

    def _handle(self, item: Received) -> tuple[int, bytes]:
        def error(
            status: int, message: str, kind: str, code: str | None = None
        ) -> tuple[int, bytes]:
            body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
            return status, json.dumps(body).encode()

        if item.path != PATH:
            return error(404, f"Invalid URL (POST {item.path})", "invalid_request_error")
        if self.api_key and item.headers.get("Authorization") != f"Bearer {self.api_key}":
            # OpenAI names the key it was given (partly masked); this one names all of it,
            # the worst a server may do.
            given = item.headers.get("Authorization", "").removeprefix("Bearer ")
            return error(
                401,
                f"Incorrect API key provided: {given}.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if self.failing is not None:
            return error(
                self.failing,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            )
        try:
            request = item.json()
            assert isinstance(request["model"], str) and isinstance(request["messages"], list)
            assert all({"role", "content"} <= set(m) for m in request["messages"])
        except (ValueError, KeyError, TypeError, AssertionError):
            return error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        if request["model"] not in self.models:
            return error(
                404,
                f"The model `{request['model']}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        if self.garbage:
            return 200, b"<html>not a completion</html>"
        return 200, json.dumps(self._completion(request)).encode()

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                item = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                with server._lock:
                    server.requests.append(item)
                server._released.wait(LONGEST_STALL)
                status, answer = server._handle(item)
                # A client that gave up waiting makes this fail quietly (LoopbackHTTPServer).
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._serving = Serving(self.port, Handler, name="chat-server")

    def stop(self) -> None:
        self.release()
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> ChatServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
