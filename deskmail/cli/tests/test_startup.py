"""Commands start without loading what they do not use.

Each command runs in a process of its own with `-X importtime`, which names every
module the process imports. The libraries checked here take tenths of a second
to import (numpy for the sentence encoder, exchangelib, MSAL and Authlib for the
connectors, ninja and pydantic for the API, rich for tables) and none is needed to
list the commands, print tickets as JSON or parse a message. A change that imports
one of them at the top of a module every command reaches fails here, not only in
the startup figures of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DESKMAIL = [sys.executable, "-X", "importtime", "-m", "deskmail.cli"]
HEAVY = {
    "numpy",
    "tokenizers",
    "safetensors",
    "exchangelib",
    "msal",
    "authlib",
    "requests",
    "imapclient",
    "ninja",
    "pydantic",
    "rich",
    "cryptography",
}
EML = Path(__file__).resolve().parents[3] / "corpus" / "mail-parser" / "mail_test_10.eml"


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DB")}
    env["DESKMAIL_DATA_DIR"] = str(folder)
    return env


@pytest.fixture(scope="module")
def data_dir() -> Path:
    """A migrated embedded database, with no tickets."""
    folder = Path(tempfile.mkdtemp(prefix="dm-startup-"))
    subprocess.run(
        [sys.executable, "-m", "deskmail.cli", "migrate", "-v", "0"],
        env=_env(folder),
        check=True,
        timeout=300,
    )
    return folder


def _run(folder: Path, *args: str) -> tuple[str, set[str]]:
    """The command's output, and the top-level packages its process imported."""
    done = subprocess.run(
        [*DESKMAIL, *args], env=_env(folder), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", done.stderr, re.M)
    assert found, "no -X importtime lines: the check would see nothing"
    return done.stdout, {name.split(".")[0] for name in found}


def test_the_command_list_loads_no_heavy_library(data_dir: Path) -> None:
    output, imported = _run(data_dir, "--help")

    assert "[cli]" in output and "tickets" in output
    assert "django" in imported
    assert imported & HEAVY == set()


def test_tickets_as_json_loads_no_heavy_library(data_dir: Path) -> None:
    output, imported = _run(data_dir, "tickets", "--json")

    assert json.loads(output) == []
    assert "deskmail" in imported
    assert imported & HEAVY == set()


@pytest.mark.parametrize("command", [["outbox", "--json"], ["quarantine", "list", "--json"]])
def test_the_other_json_lists_load_no_heavy_library(data_dir: Path, command: list[str]) -> None:
    output, imported = _run(data_dir, *command)

    assert json.loads(output) == []
    assert imported & HEAVY == set()


def test_the_table_of_tickets_still_has_rich(data_dir: Path) -> None:
    output, imported = _run(data_dir, "tickets")

    assert output.strip() == "No tickets."
    assert imported & (HEAVY - {"rich"}) == set()


def test_parse_runs_without_django(data_dir: Path) -> None:
    output, imported = _run(data_dir, "parse", "--json", str(EML))

    assert json.loads(output)["subject"]
    assert "deskmail" in imported
    assert "django" not in imported
    assert imported & HEAVY == set()
