"""The per-token rate limit, counted in the database so that every process shares it."""

from __future__ import annotations

import pytest

from deskmail.api import ratelimit
from deskmail.api.models import RateWindow
from deskmail.apitokens.models import AccessToken

pytestmark = pytest.mark.django_db

NOW = 1_800_000_030.0  # half a minute into a minute


@pytest.fixture(autouse=True)
def still_clock(monkeypatch):
    monkeypatch.setattr(ratelimit, "clock", lambda: NOW)


def test_it_answers_429_with_retry_after_past_the_limit(api, settings):
    settings.DESKMAIL_API_RATE_LIMIT = 3

    statuses = [api.nora.get("me").status for _ in range(4)]
    refused = api.nora.get("me")

    assert statuses == [200, 200, 200, 429]
    assert refused.status == 429 and refused.content_type == "application/problem+json"
    assert refused.headers["Retry-After"] == "30"
    assert api.sam.get("me").status == 200  # another token, another count


def test_the_count_is_shared_through_the_database(api, team, settings):
    """Another process counted these requests: the same row decides here."""
    settings.DESKMAIL_API_RATE_LIMIT = 10
    token = AccessToken.objects.get(user=team.nora)
    RateWindow.objects.create(client=f"token:{token.pk}", minute=int(NOW // 60), count=10)

    assert api.nora.get("me").status == 429


def test_a_new_minute_starts_a_new_count_and_forgets_the_old(api, team, settings):
    settings.DESKMAIL_API_RATE_LIMIT = 10
    token = AccessToken.objects.get(user=team.nora)
    client = f"token:{token.pk}"
    RateWindow.objects.create(client=client, minute=int(NOW // 60) - 1, count=10)

    assert api.nora.get("me").status == 200
    assert list(RateWindow.objects.filter(client=client).values_list("count", flat=True)) == [1]
