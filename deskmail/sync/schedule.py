"""When a mailbox may be synced: skip windows, backoff with jitter, cool-off. Pure functions."""

from __future__ import annotations

import datetime as dt
import random

MAX_BACKOFF_SECONDS = 300.0
_RANDOM = random.Random()


def in_skip_window(now: dt.time, windows: list[str]) -> bool:
    """True when `now` falls in one of the "HH:MM-HH:MM" windows (a window may wrap midnight)."""
    for window in windows:
        start_text, end_text = window.split("-")
        start = dt.time.fromisoformat(start_text)
        end = dt.time.fromisoformat(end_text)
        if start <= end:
            if start <= now < end:
                return True
        elif now >= start or now < end:
            return True
    return False


def seconds_until_window_ends(now: dt.datetime, windows: list[str]) -> float:
    """How long to wait until no skip window covers `now` (0 when none does)."""
    probe = now
    for _ in range(24 * 60 + 1):
        if not in_skip_window(probe.time(), windows):
            return (probe - now).total_seconds()
        probe = (probe + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    return 0.0  # every minute is skipped: a configuration the schema should not allow


def backoff_seconds(failures: int, *, base: float = 2.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: a random wait in [base, base * 2**(failures-1)]."""
    ceiling = min(MAX_BACKOFF_SECONDS, base * (2 ** max(0, failures - 1)))
    return (rng or _RANDOM).uniform(min(base, ceiling), ceiling)
