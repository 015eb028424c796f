"""Startup benchmark: how long a `deskmail` command takes to start, and `tickets --json` at scale.

Startup: each command runs RUNS times, each in a new process, on a migrated empty
embedded database (SQLite); the figure is the wall-clock time from starting the
process to its exit, median and fastest. Beside them, in the same run, the floors:
`python -c pass` (the interpreter) and `python -c "import django; django.setup()"`
with deskmail's settings (Django with every app loaded, nothing else done). With
BENCH_STARTUP_BEFORE=/path/to/another/checkout the same commands are also run from
that checkout's code (PYTHONPATH), for a before-and-after in one run.

`tickets --json` at scale: TICKETS_SMALL and TICKETS_LARGE tickets with
MESSAGES_PER_TICKET messages each, written in bulk (`bench.console_bench`'s
generator), then `deskmail tickets --json` in a process of its own, its output
written to a file (and read back to check it holds every ticket). Wall-clock time
(median of REPEAT) and the process's peak RSS, on SQLite and PostgreSQL: a constant
peak RSS across the two sizes is what shows the output streams.

    python -m bench.startup_bench [TICKETS_LARGE]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.children import measure_in_child
from bench.console_bench import MESSAGES_PER_TICKET

REPOSITORY = Path(__file__).resolve().parent.parent
RUNS = 20
REPEAT = 3
TICKETS_SMALL = 5_000
TICKETS_LARGE = 50_000
BENCH_DB = "deskmail_startup_bench"
EML = REPOSITORY / "corpus" / "mail-parser" / "mail_test_10.eml"
SETUP = "import django; django.setup()"


def _env(data_dir: str, code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DB")}
    env.update(
        DESKMAIL_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="deskmail.settings",
        PYTHONPATH=str(code),
    )
    return env


COMMANDS = [
    ("`python -c pass` (the interpreter)", ["-c", "pass"]),
    (f'`python -c "{SETUP}"` (Django and every app)', ["-c", SETUP]),
    ("`deskmail --help`", ["-m", "deskmail.cli", "--help"]),
    ("`deskmail tickets --json` (no tickets)", ["-m", "deskmail.cli", "tickets", "--json"]),
    ("`deskmail parse FILE`", ["-m", "deskmail.cli", "parse", str(EML)]),
]


def _once(argv: list[str], env: dict[str, str], code: Path) -> float:
    """Seconds from start to exit of one process, run from the checkout's folder."""
    started = time.perf_counter()
    # From the checkout's folder: `-m` and `-c` put it first on the path.
    subprocess.run(
        argv, env=env, cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True
    )
    return time.perf_counter() - started


def _startup_rows(codes: list[tuple[str, Path]]) -> list[str]:
    """A row per checkout and command; the checkouts' runs alternate, so load hits both."""
    envs = []
    for _, code in codes:
        env = _env(tempfile.mkdtemp(prefix="deskmail-startup-"), code)
        migrate = [sys.executable, "-m", "deskmail.cli", "migrate", "-v", "0"]
        subprocess.run(migrate, env=env, cwd=code, check=True)
        envs.append(env)
    timings: dict[tuple[int, str], list[float]] = {}
    for name, args in COMMANDS:
        for run in range(RUNS + 1):  # the first warms the file cache
            for i, (_, code) in enumerate(codes):
                took = _once([sys.executable, *args], envs[i], code)
                if run:
                    timings.setdefault((i, name), []).append(took)
    return [
        f"| {label} | {name} | {statistics.median(timings[i, name]) * 1000:.0f} ms "
        f"| {min(timings[i, name]) * 1000:.0f} ms |"
        for i, (label, _) in enumerate(codes)
        for name, _ in COMMANDS
    ]


# -- tickets --json at scale (in a child process per database) ----------------------------


# Starts the command and prints its peak RSS. A small process of its own: Linux keeps the
# RSS high-water mark of the process that forks across exec, so a command started straight
# from the child (which holds the generated data) would report the child's RSS instead.
LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, file=sys.stderr)
"""


def _export(argv: list[str]) -> tuple[float, int, int]:
    """Seconds, peak RSS in KiB and tickets printed of one `tickets --json` process."""
    with tempfile.TemporaryFile("w+b") as out:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *argv], stdout=out, stderr=subprocess.PIPE
        )
        took = time.perf_counter() - started
        code, peak = (int(word) for word in done.stderr.split()[-2:])
        assert done.returncode == 0 and code == 0, done.stderr[-2000:]
        out.seek(0)
        count = len(json.load(out))
    return took, peak, count


def _child(size: int) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.console_bench import _generate

    call_command("migrate", verbosity=0)
    made = _generate(size)
    connection.close()  # the export is another process: no open transaction of ours
    argv = [sys.executable, "-m", "deskmail.cli", "tickets", "--json"]
    runs = [_export(argv) for _ in range(REPEAT)]
    assert all(count == size for _, _, count in runs), [count for _, _, count in runs]
    return {
        "generate_s": made["generate_s"],
        "seconds": statistics.median(took for took, _, _ in runs),
        "peak_rss_kib": max(rss for _, rss, _ in runs),
    }


def run(large: int = TICKETS_LARGE) -> str:
    load = os.getloadavg()[0]
    lines = [
        "## Startup and `tickets --json`",
        "",
        f"Wall-clock time of one command, from starting the process to its exit: {RUNS} runs",
        "each (after one to warm the file cache; with BENCH_STARTUP_BEFORE, the two checkouts'",
        "runs alternate), median and fastest, on a migrated empty",
        "SQLite database, beside the two floors of the same run: the interpreter alone, and",
        "Django set up with deskmail's settings and every app. `deskmail parse` does not set",
        "Django up at all. The aim is under 0.5 s for a command "
        f"(load average at the start: {load:.1f};",
        "the machine is shared, so compare the rows of one run).",
        "",
        "| code | command | median | fastest |",
        "|---|---|---:|---:|",
    ]
    before = _before()
    codes = (
        [("this change", REPOSITORY), ("before", before)] if before else [("deskmail", REPOSITORY)]
    )
    lines += _startup_rows(codes)
    sizes = [TICKETS_SMALL, large]
    lines += [
        "",
        f"`deskmail tickets --json` writing {sizes[0]:,} and {sizes[1]:,} tickets "
        f"({MESSAGES_PER_TICKET} messages each,",
        "written in bulk) to a file, in a process of its own: the wall-clock time of the whole",
        f"command (its startup included), median of {REPEAT} runs, and its peak RSS. The",
        "tickets are read from a cursor in chunks and written one by one, so the peak RSS",
        "should stay flat as they grow.",
        "",
        "| database | tickets | time | peak RSS | generated in |",
        "|---|---:|---:|---:|---:|",
    ]
    for database in ("SQLite", "PostgreSQL"):
        for size in sizes:  # each on a new database
            result = measure_in_child("bench.startup_bench", [str(size)], database, BENCH_DB)
            if "error" in result:
                lines.append(f"| {database} | {size:,} | not measured: {result['error']} | | |")
                continue
            lines.append(
                f"| {database} | {size:,} | {result['seconds']:.2f} s "
                f"| {result['peak_rss_kib'] / 1024:.0f} MiB | {result['generate_s']:.0f} s |"
            )
    return "\n".join([*lines, ""])


def _before() -> Path | None:
    other = os.environ.get("BENCH_STARTUP_BEFORE")
    return Path(other).resolve() if other else None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_child(int(sys.argv[2]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else TICKETS_LARGE))
