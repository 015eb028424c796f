"""Run benchmark sections and write them into docs/benchmarks.md.

Each section is a module with `run() -> str` returning Markdown under one or
more `## ` headings. `python -m bench` runs every module; `python -m bench
parse import` runs only the named ones and replaces only the sections they
return, leaving the rest of the file as it was. A replaced section keeps the
figures it had before in a collapsed "Previous run" block at its end (the most
recent previous run only), and each written section names the day and machine
it was measured on, since the sections of one file may come from different
runs. A module that cannot run here says why in its place instead of stopping
the others.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

SECTIONS = {
    "parse": "bench.parse_bench",
    "hostile": "bench.hostile_bench",
    "import": "bench.import_bench",
    "imap": "bench.imap_bench",
    "sync": "bench.sync_bench",
    "outbox": "bench.outbox_bench",
    "api": "bench.api_bench",
    "graph": "bench.graph_bench",
    "console": "bench.console_bench",
    "suggest": "bench.suggest_bench",
    "routing": "bench.routing_bench",
    "startup": "bench.startup_bench",
    "workers": "bench.workers_bench",
}
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

_STAMP = re.compile(r"^_Measured on (\d{4}-\d{2}-\d{2}) \((.*)\)\._$")
# The header names the run that measured the sections without a stamp of their own.
_UNSTAMPED_RUN = re.compile(r"measured by `make bench` on (\d{4}-\d{2}-\d{2}) \(([^)]*)\)", re.I)
_PREVIOUS = "<details><summary>Previous run ("
_FAILED = "This section failed:"


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


@dataclass
class Section:
    title: str
    text: str  # everything after the heading line, as it stands in the file


@dataclass
class Document:
    header: str
    sections: list[Section]

    def index(self, title: str) -> int | None:
        for i, section in enumerate(self.sections):
            if section.title == title:
                return i
        return None


def parse_document(text: str) -> Document:
    """Split Markdown at its `## ` headings (not inside code fences)."""
    header: list[str] = []
    titles: list[str] = []
    bodies: list[list[str]] = []
    fenced = False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            titles.append(line[3:].strip())
            bodies.append([])
        else:
            (bodies[-1] if bodies else header).append(line)
    sections = [Section(title, "".join(body)) for title, body in zip(titles, bodies, strict=True)]
    return Document("".join(header), sections)


def render(document: Document) -> str:
    parts = [document.header.rstrip("\n") + "\n\n"]
    for i, section in enumerate(document.sections):
        text = section.text.rstrip("\n") + "\n"
        if i < len(document.sections) - 1:
            text += "\n"
        parts.append(f"## {section.title}\n{text}")
    return "".join(parts)


def _stamp(day: str, machine: str) -> str:
    return f"_Measured on {day} ({machine})._"


def _measured(text: str, fallback: tuple[str, str] | None) -> tuple[str, str] | None:
    """The day and machine a section's text says it was measured on."""
    first = text.strip("\n").split("\n", 1)[0]
    match = _STAMP.match(first)
    return (match[1], match[2]) if match else fallback


def _figures(text: str) -> str:
    """A section's own figures: without its stamp line and its previous-run block."""
    lines = text.strip("\n").split("\n")
    if lines and _STAMP.match(lines[0]):
        lines = lines[1:]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(_PREVIOUS):
            lines = lines[:i]
            break
    return "\n".join(lines).strip("\n")


def replace_section(
    document: Document,
    title: str,
    figures: str,
    stamp: str,
    unstamped_run: tuple[str, str] | None,
    after: int | None,
) -> int:
    """Put `figures` under `title`, keeping what was there as the previous run.

    Returns the section's position. A new title goes after position `after`,
    or at the end.
    """
    text = f"\n{stamp}\n\n{figures.strip(chr(10))}\n"
    position = document.index(title)
    if position is not None:
        old = document.sections[position].text
        previous = _figures(old)
        measured = _measured(old, unstamped_run)
        if previous and not previous.startswith(_FAILED):
            day = measured[0] if measured else "date unknown"
            inner = f"{_stamp(*measured)}\n\n{previous}" if measured else previous
            summary = f"{_PREVIOUS}{day})</summary>"
            text += f"\n{summary}\n\n{inner}\n\n</details>\n"
        document.sections[position].text = text
        return position
    position = len(document.sections) if after is None else after + 1
    document.sections.insert(position, Section(title, text))
    return position


def module_sections(name: str, markdown: str) -> list[tuple[str, str]]:
    """(title, figures) for each `## ` section a module returned."""
    returned = parse_document(markdown.strip("\n") + "\n")
    sections = [(s.title, s.text) for s in returned.sections]
    if returned.header.strip():  # text before any heading: file it under the module's name
        sections.insert(0, (name, returned.header))
    return sections


def header(argv: list[str], machine: str, today: str, unstamped: tuple[str, str] | None) -> str:
    command = " ".join(["python -m bench", *argv])
    lines = ["# Benchmarks", "", f"Written by `{command}` on {today} ({machine})."]
    if unstamped:
        lines.append(
            "Each section says when it was measured; a section that does not was "
            f"measured by `make bench` on {unstamped[0]} ({unstamped[1]})."
        )
    else:
        lines.append("Each section says when and on what it was measured.")
    lines += [
        "Numbers come from one run on this machine: compare rows within a table,",
        "not across machines.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in SECTIONS]
    if unknown:
        print(f"bench: unknown section {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
        return 2
    wanted = argv or list(SECTIONS)
    machine = _machine()
    today = str(dt.datetime.now(dt.UTC).date())
    stamp = _stamp(today, machine)
    existing = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else "# Benchmarks\n"
    document = parse_document(existing)
    match = _UNSTAMPED_RUN.search(document.header)
    unstamped_run = (match[1], match[2]) if match else None
    for name in wanted:
        module_name = SECTIONS[name]
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        failed_title = f"{name}: failed"
        try:
            sections = module_sections(name, module.run())
        except Exception:  # a broken section must not hide the others
            failure = f"{_FAILED}\n\n```\n{traceback.format_exc()}```\n"
            replace_section(document, failed_title, failure, stamp, None, None)
            continue
        stale = document.index(failed_title)
        if stale is not None:
            del document.sections[stale]
        after = None
        for title, figures in sections:
            after = replace_section(document, title, figures, stamp, unstamped_run, after)
    still_unstamped = any(_measured(section.text, None) is None for section in document.sections)
    document.header = header(argv, machine, today, unstamped_run if still_unstamped else None)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(render(document), encoding="utf-8")
    print(f"bench: wrote {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
