"""Stops the test mail servers when the test process dies, however it dies.

Run as a script (not imported): `python watchdog.py PARENT_PID DIR`.
Every 0.1 s it checks that PARENT_PID is alive; when it is gone (even after a
SIGKILL, which leaves no chance to clean up) it kills every process group
listed in DIR/pgids, one per line, and removes DIR. It exits quietly when
DIR/pgids is removed, which is what a normal stop does.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time


def _alive(pid: int) -> bool:
    """True if pid runs and is not a zombie (kill -0 says a zombie is alive)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_groups(pgid_file: str) -> None:
    try:
        with open(pgid_file) as lines:
            groups = [int(line) for line in lines if line.strip()]
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.3)


def main(parent: int, directory: str) -> None:
    pgid_file = os.path.join(directory, "pgids")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for pytest, which stops us itself
    while _alive(parent):
        if not os.path.exists(pgid_file):
            return
        time.sleep(0.1)
    _kill_groups(pgid_file)
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
