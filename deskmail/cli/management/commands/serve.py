"""`deskmail serve`: the web console, admin and API over ASGI (uvicorn)."""

from __future__ import annotations

import uvicorn
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the web console, admin and API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: object, host: str, port: int, **options: object) -> None:
        uvicorn.run(
            "deskmail.asgi:application",
            host=host,
            port=port,
            lifespan="off",
            log_level="info",
            proxy_headers=False,
            # Open consoles hold live-update streams; they reconnect by themselves.
            timeout_graceful_shutdown=5,
        )
