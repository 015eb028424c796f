"""`deskmail suggestions reindex` and `report`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

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
