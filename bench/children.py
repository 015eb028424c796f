"""Running one benchmark's measurement in a child process, on a database of its own.

Django settings are read once per process, so each database is measured in a fresh
interpreter (`python -m bench.X --child ...`) that prints its result as JSON last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def measure_in_child(
    module: str, args: list[str], database: str, bench_db: str, **env_extra: str
) -> dict[str, Any]:
    """The child's JSON result, or {"error": why} (PostgreSQL unreachable, a crash)."""
    env = {
        **os.environ,
        "DESKMAIL_DATA_DIR": tempfile.mkdtemp(prefix=f"deskmail-{bench_db}-"),
        **env_extra,
    }
    env.pop("DATABASE_URL", None)
    if database == "PostgreSQL":
        import psycopg

        try:
            with psycopg.connect(
                f"{POSTGRES}/postgres", autocommit=True, connect_timeout=3
            ) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {bench_db}")
                conn.execute(f"CREATE DATABASE {bench_db}")
        except psycopg.Error as exc:
            return {"error": f"PostgreSQL unreachable ({exc})"}
        env["DATABASE_URL"] = f"{POSTGRES}/{bench_db}"
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
