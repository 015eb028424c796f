"""A small OAuth2 token issuer with an RFC 7662 introspection endpoint, for tests.

Dovecot's oauth2 passdb POSTs `token=<bearer>` to `/introspect` and accepts
the login when the answer says `"active": true` and names the same user.
Tokens live in memory; the server runs in a thread of the test process.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class TokenServer:
    """Issues bearer tokens and answers introspection requests on 127.0.0.1."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None
        # Seconds to wait before answering an introspection: a slow identity provider.
        self.introspection_delay = 0.0

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/introspect"

    @property
    def token_url(self) -> str:
        """POST `username` (and `expires_in`) here for a token, as an HTTP client would."""
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()

    def issue(self, username: str, expires_in: float = 3600) -> str:
        """A new token for username; a negative `expires_in` gives an already expired one."""
        token = "tok_" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (username.lower(), time.time() + expires_in)
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def introspect(self, token: str) -> dict[str, object]:
        with self._lock:
            record = self._tokens.get(token)
        if record is None or record[1] <= time.time():
            return {"active": False}
        username, expires = record
        return {"active": True, "username": username, "exp": int(expires), "token_type": "Bearer"}


def _handler_for(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output quiet

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            field = {key: values[0] for key, values in form.items()}
            if self.path == "/introspect":
                time.sleep(server.introspection_delay)
                self._reply(200, server.introspect(field.get("token", "")))
            elif self.path == "/token" and field.get("username"):
                expires_in = float(field.get("expires_in", "3600"))
                token = server.issue(field["username"], expires_in)
                answer = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
                self._reply(200, answer)
            else:
                self._reply(404, {"error": "not_found"})

        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
