"""Personal access tokens: shown once, stored hashed, revocable, expiring, last use recorded."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from deskmail.apitokens import tokens as store
from deskmail.apitokens.models import AccessToken
from deskmail.services import tokens
from deskmail.services.access import SYSTEM
from deskmail.services.errors import Forbidden, Invalid

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("tokens", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_stores_only_a_hash_of_the_token(team):
    row, token = tokens.create(SYSTEM, team.nora, name="crm")

    stored = AccessToken.objects.get(pk=row.pk)
    assert token.startswith("dmt_") and len(token) > 40
    assert stored.digest == store.digest(token) and token not in stored.digest
    assert not AccessToken.objects.filter(digest=token).exists()
    assert stored.prefix == token[:12]
    assert store.find(token).user == team.nora


def test_it_refuses_revoked_expired_unknown_and_inactive(team):
    revoked, revoked_token = tokens.create(SYSTEM, team.nora)
    tokens.revoke(SYSTEM, revoked.pk)
    _, expiring = tokens.create(SYSTEM, team.sam, expires_days=1)
    _, inactive = tokens.create(SYSTEM, team.stan)
    team.stan.is_active = False
    team.stan.save()

    assert store.find(revoked_token) is None
    assert store.find(expiring) is not None
    assert store.find(expiring, now=timezone.now() + dt.timedelta(days=1, seconds=1)) is None
    assert store.find(inactive) is None
    assert store.find("dmt_" + "x" * 43) is None
    assert store.find("not even a token") is None


def test_it_records_the_last_use_at_most_once_a_minute(team):
    row, token = tokens.create(SYSTEM, team.nora)
    start = timezone.now()

    store.find(token, now=start)
    store.find(token, now=start + dt.timedelta(seconds=30))
    assert AccessToken.objects.get(pk=row.pk).last_used_at == start
    store.find(token, now=start + dt.timedelta(seconds=61))
    assert AccessToken.objects.get(pk=row.pk).last_used_at == start + dt.timedelta(seconds=61)


def test_it_lets_people_make_tokens_only_for_themselves_unless_admin(team):
    nora = team.actor(team.nora)

    tokens.create(nora, team.nora)
    tokens.create(team.actor(team.ada), team.nora)
    with pytest.raises(Forbidden):
        tokens.create(nora, team.sam)
    with pytest.raises(Invalid) as refused:
        tokens.create(nora, team.nora, expires_days=0)
    assert refused.value.field == "expires_days"
    assert tokens.tokens(nora).count() == 2
    assert tokens.tokens(team.actor(team.sam)).count() == 0


def test_the_command_prints_the_token_alone_on_its_last_line(team):
    output = _run("create", "nora@helpdesk.example", "--name", "crm", "--expires", "30")

    token = output.strip().splitlines()[-1]
    row = store.find(token)
    assert row is not None and row.name == "crm" and row.user == team.nora
    assert row.expires_at is not None
    assert row.expires_at - timezone.now() > dt.timedelta(days=29)
    assert token not in _run("list")
    assert "crm" in _run("list", "nora@helpdesk.example")


def test_the_command_revokes_and_names_unknown_people(team):
    row, token = tokens.create(SYSTEM, team.nora)

    assert "revoked" in _run("revoke", str(row.pk))
    assert store.find(token) is None
    assert "revoked" in _run("list")
    with pytest.raises(CommandError, match="no person"):
        _run("create", "nobody@helpdesk.example")
