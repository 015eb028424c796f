"""`deskmail suggestions reindex` and `report`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from deskmail.services import canned
from deskmail.services.access import SYSTEM
from deskmail.suggest.models import Pair
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_reindex_builds_the_index_and_report_prints_hit_rates(team: Team) -> None:
    canned.create(SYSTEM, name="Opening hours", body="We answer 9 to 5.")
    Pair.objects.all().delete()

    indexed = run("suggestions", "reindex")
    report = json.loads(run("suggestions", "report", "--json"))

    assert "1 canned answers" in indexed
    assert Pair.objects.get().answer == "We answer 9 to 5."
    assert (report["pairs_from_canned"], report["question_hit_rate"]) == (1, 0.0)
    assert "Questions with suggestions shown: 0" in run("suggestions", "report")


def test_generation_is_off_until_an_admin_switches_it_on_and_the_key_is_never_printed(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_KEY", "sk-cli-77e1-never-printed")

    before = run("suggestions", "generation")
    after = run(
        "suggestions",
        "generation",
        "--on",
        "--url",
        "http://127.0.0.1:11434",
        "--model",
        "llama3.2",
        "--api-key-env",
        "OLLAMA_KEY",
        "--timeout",
        "20",
    )
    as_json = json.loads(run("suggestions", "generation", "--json"))
    cleared = run("suggestions", "generation", "--no-api-key", "--off")

    assert "Rewriting suggestions: off" in before and "API key: none" in before
    assert "Rewriting suggestions: on" in after and "Model: llama3.2" in after
    assert "API key: stored (encrypted)" in after and "Timeout: 20 s" in after
    assert "sk-cli-77e1" not in after + json.dumps(as_json)
    assert as_json == {
        "enabled": True,
        "base_url": "http://127.0.0.1:11434",
        "model": "llama3.2",
        "api_key_set": True,
        "timeout_seconds": 20.0,
    }
    assert "Rewriting suggestions: off" in cleared and "API key: none" in cleared
    assert "Rewrites: 0 (0 failed, 0 inserted)" in run("suggestions", "report")


def test_generation_refuses_what_cannot_work(team: Team) -> None:
    with pytest.raises(CommandError, match="base URL"):
        run("suggestions", "generation", "--url", "localhost:11434")
    with pytest.raises(CommandError, match="name the server"):
        run("suggestions", "generation", "--on", "--model", "llama3.2")
    with pytest.raises(CommandError, match="NO_SUCH_VAR is not set"):
        run("suggestions", "generation", "--api-key-env", "NO_SUCH_VAR")
