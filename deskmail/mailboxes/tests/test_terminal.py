"""`mailboxes load` on a real terminal (a pseudo-terminal), asking for an unset password."""

import fcntl
import os
import select
import subprocess
import sys
import termios
from pathlib import Path

from deskmail.mailboxes.tests.conftest import FIXTURES

DESKMAIL = str(Path(sys.executable).parent / "deskmail")
TYPED = "typed-on-the-terminal-7"


def _take_terminal() -> None:
    # Runs in the child: make the pseudo-terminal on stdin its controlling terminal,
    # as a login shell's would be, so getpass can turn echo off.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read_until(fd: int, marker: bytes, seen: bytearray) -> None:
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            raise AssertionError(f"no {marker!r} in {bytes(seen)!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            raise AssertionError(f"no {marker!r} in {bytes(seen)!r}")
        seen += chunk


def test_it_asks_for_an_unset_password_on_a_terminal_without_echoing_it(tmp_path):
    env = {
        **os.environ,
        "DESKMAIL_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "",
        "SUPPORT_SMTP_PASSWORD": "from-the-environment",
    }
    env.pop("SUPPORT_IMAP_PASSWORD", None)
    subprocess.run([DESKMAIL, "migrate", "-v0"], env=env, check=True)
    controller, terminal = os.openpty()
    child = subprocess.Popen(
        [DESKMAIL, "mailboxes", "load", str(FIXTURES / "design-example.yaml")],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=_take_terminal,
    )
    os.close(terminal)
    seen = bytearray()
    try:
        _read_until(controller, b"($SUPPORT_IMAP_PASSWORD): ", seen)
        os.write(controller, TYPED.encode() + b"\n")
        _read_until(controller, b"sales (SAL): created", seen)
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(controller)

    assert code == 0, bytes(seen)

    assert TYPED.encode() not in seen
    stored = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'deskmail.settings'; "
            "django.setup(); from deskmail.mailboxes.models import Mailbox; "
            "m = Mailbox.objects.get(name='support'); "
            f"print(m.inbound_secret == {TYPED!r}, m.outbound_secret == 'from-the-environment')",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert stored.stdout.split() == ["True", "True"]
