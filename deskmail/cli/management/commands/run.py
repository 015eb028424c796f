"""`deskmail run`: everything on the embedded default, in one command.

Migrates, creates a first admin if there is none, then runs `deskmail serve`
and `deskmail worker` as two child processes, and prints the admin's login
once the console answers. Ctrl-C (or SIGTERM, any number of times) stops
both; if either exits, the other is stopped too.
"""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from deskmail.core.admin_account import ensure_first_admin
from deskmail.core.lifecycle import StopRequest

STOP_GRACE_SECONDS = 10
# How long the console may take to start answering.
START_SECONDS = 60


class Command(BaseCommand):
    help = "Migrate, then run the web console and the worker together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: object, host: str, port: int, **options: object) -> None:
        request = StopRequest().install()
        self._check_permissions()
        call_command("migrate", interactive=False, verbosity=0)
        created = ensure_first_admin()
        url = f"http://{host}:{port}/"
        self.stdout.write(f"deskmail: data in {settings.DATA_DIR}, console at {url}")
        children = [
            self._spawn("serve", "--host", host, "--port", str(port)),
            self._spawn("worker"),
        ]
        try:
            answering = self._wait_for_console(host, port, children[0], request)
            if created:
                self._tell_login(created, url, answering)
            while not request.requested and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            failed = [child for child in children if child.poll() not in (None, 0)]
            self._stop(children)
            request.done()
        if failed and not request.requested:
            sys.exit(1)

    def _tell_login(self, created: tuple[str, str], url: str, answering: bool) -> None:
        username, password = created
        if answering:
            self.stdout.write(
                f"Created the first admin account. Log in at {url} as {username} / {password}\n"
                "(shown once: change it after logging in)"
            )
        else:
            self.stderr.write(
                f"The console did not start, after the first admin account ({username}) was "
                f"created. Once it starts, set that account's password with "
                f"`deskmail changepassword {username}`."
            )

    def _wait_for_console(
        self, host: str, port: int, serve: subprocess.Popen[bytes], request: StopRequest
    ) -> bool:
        """Whether the console answers on its port (False if it died or never did)."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and serve.poll() is None and not request.requested:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def _check_permissions(self) -> None:
        """Say so when the data folder (secrets, keys, mail) is open to other users."""
        folder = Path(settings.DATA_DIR)
        for path in (folder, folder / "deskmail.sqlite3", folder / "encryption_key"):
            if not path.exists():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                wanted = "700" if path.is_dir() else "600"
                self.stderr.write(
                    f"deskmail: {path} can be read by other users (mode {mode:o}); it holds "
                    f"secrets and mail: chmod {wanted} {path}"
                )

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
