"""Run every benchmark section and write docs/benchmarks.md.

Each section is a module with `run() -> str` returning Markdown. A section
that cannot run here says why in its place instead of stopping the others.
`python -m bench parse import` runs only the named sections.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
import traceback
from pathlib import Path

SECTIONS = {
    "parse": "bench.parse_bench",
    "import": "bench.import_bench",
    "imap": "bench.imap_bench",
    "sync": "bench.sync_bench",
    "outbox": "bench.outbox_bench",
}
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _machine() -> str:
    cpus = os.cpu_count()
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    python = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {cpus} cores{memory}, Python {python}"


def main(argv: list[str]) -> int:
    wanted = argv or list(SECTIONS)
    parts = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {dt.datetime.now(dt.UTC).date()} ({_machine()}).",
        "Numbers come from one run on this machine: compare rows within a table,",
        "not across machines.",
        "",
    ]
    for name in wanted:
        module_name = SECTIONS[name]
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        try:
            parts.append(module.run().rstrip() + "\n")
        except Exception:  # a broken section must not hide the others
            parts.append(f"## {name}\n\nThis section failed:\n\n```\n{traceback.format_exc()}```\n")
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text("\n".join(parts))
    print(f"bench: wrote {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
