"""The real-world corpus in `corpus/` (repository root), checked through `deskmail parse --json`.

`corpus/check.py` compares the parser's JSON with each message's
`*.expected.json`; this test runs it so that the normal test run covers the
corpus too. The corpus is test data outside the package, so the test finds it
from the repository root and fails, rather than skips, when it is not there.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
CORPUS = REPOSITORY / "corpus"
CHECK = CORPUS / "check.py"
_SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def test_it_passes_every_case_of_the_real_world_corpus():
    if not CHECK.is_file():
        pytest.fail(f"the parsing corpus is missing: {CHECK} does not exist")
    cases = sorted(CORPUS.rglob("*.eml"))
    if not cases:
        pytest.fail(f"the parsing corpus at {CORPUS} holds no .eml files")
    command = f"{shlex.quote(sys.executable)} -m deskmail.cli parse --json {{}}"
    # From the repository root, `-m deskmail.cli` imports this checkout's deskmail.
    run = subprocess.run(
        [sys.executable, str(CHECK), "--cmd", command, "--dir", str(CORPUS)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = run.stdout + run.stderr
    summary = _SUMMARY.search(run.stdout)
    assert summary is not None, f"check.py printed no summary:\n{report}"
    passed, failed = (int(n) for n in summary.groups())
    assert run.returncode == 0 and failed == 0, f"corpus cases failed:\n{report}"
    assert passed == len(cases), f"check.py ran {passed} of {len(cases)} cases:\n{report}"
