"""The threaded HTTP(S) server the test harness's fake services listen with, on loopback."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Threaded, quiet about clients that go away (a worker process killed by a test) or
    refuse a TLS handshake; with `tls`, every connection is wrapped in TLS, as the real
    services are only `https://`."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.tls = tls
        super().__init__(address, handler)

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.tls is not None:
            # The handshake happens in the request's thread, on its first read.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Serving:
    """A loopback server answering in a background thread until `stop`."""

    def __init__(
        self,
        port: int,
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str = "loopback-http",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.server = LoopbackHTTPServer(("127.0.0.1", port), handler, tls)
        self.thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
