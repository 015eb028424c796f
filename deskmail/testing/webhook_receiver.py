"""A local HTTP receiver for webhook tests: records every POST, can be down, can answer.

    with WebhookReceiver() as receiver:
        ... receiver.url ...
        receiver.stop()            # connection refused, as a receiver that is down
        receiver.start()           # back, on the same port
        receiver.failing = 503     # up, but answering 503
        receiver.on_post = fn      # called with each Received; may act (e.g. call the API)

It speaks plain HTTP/1.1 on loopback; the endpoint under test must allow private
addresses (the sender refuses loopback otherwise).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from deskmail.testing.loopback import Serving


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failing: int | None = None
        self.on_post: Callable[[Received], None] | None = None
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._serving: Serving | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/deskmail"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [item.json() for item in self.received]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                item = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                status = receiver.failing
                if status is None:
                    with receiver._lock:
                        receiver.received.append(item)
                    if receiver.on_post is not None:
                        try:
                            receiver.on_post(item)
                        except BaseException as exc:  # noqa: BLE001 - reported to the test
                            receiver.errors.append(exc)
                answer = b"ok" if status is None else b"down for maintenance"
                self.send_response(status or 200)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._serving = Serving(self.port, Handler, name="webhook-receiver")

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
