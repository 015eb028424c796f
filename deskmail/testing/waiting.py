"""Waiting in tests on a condition, never on the clock."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually[T](check: Callable[[], T], timeout: float = 15, what: str = "") -> T:
    """check()'s first truthy value; fails naming what was awaited after timeout seconds.

    The timeout is a bound on a hang, not a measurement: conditions are polled
    every 20 ms and a passing test never waits for it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout:g} s: {what or check.__doc__ or check}")
        time.sleep(0.02)
