"""`deskmail run`: everything on the embedded default, in one command.

Migrates, creates a first admin if there is none (printing its login once),
then runs `deskmail serve` and `deskmail worker` as two child processes.
Ctrl-C (or SIGTERM) stops both; if either exits, the other is stopped too.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from deskmail.core.admin_account import ensure_first_admin

STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Migrate, then run the web console and the worker together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: object, host: str, port: int, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        created = ensure_first_admin()
        url = f"http://{host}:{port}/"
        if created:
            username, password = created
            self.stdout.write(
                f"Created the first admin account. Sign in at {url} as "
                f"{username} / {password}\n(shown once: change it after logging in)"
            )
        self.stdout.write(f"deskmail: data in {settings.DATA_DIR}, console at {url}")
        children = [
            self._spawn("serve", "--host", host, "--port", str(port)),
            self._spawn("worker"),
        ]
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        failed = [child for child in children if child.poll() not in (None, 0)]
        self._stop(children)
        if failed and not stopping:
            sys.exit(1)

    def _spawn(self, *command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "deskmail.cli", *command])  # noqa: S603

    def _stop(self, children: list[subprocess.Popen[bytes]]) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
