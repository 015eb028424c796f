"""Which databases the test run must have."""

from __future__ import annotations

import os


def postgres_required() -> bool:
    """`make test` sets TEST_DB: then an unreachable PostgreSQL fails the run, loudly."""
    return bool(os.environ.get("TEST_DB"))
