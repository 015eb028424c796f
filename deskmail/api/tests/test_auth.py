"""Who may call the API: a personal access token, or the console's session with CSRF."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from deskmail.api.tests.conftest import Api
from deskmail.apitokens.models import AccessToken
from deskmail.testing.personas import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_answers_401_with_a_problem_without_a_valid_token(api):
    for caller in (api.nobody, Api("dmt_not-a-real-token"), Api(None)):
        answer = caller.get("tickets")
        assert answer.status == 401
        assert answer.content_type == "application/problem+json"
        assert answer.json()["status"] == 401
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="deskmail"'

    basic = api.nobody.get("tickets", headers={"Authorization": "Basic bm9yYTpwYXNz"})
    assert basic.status == 401


def test_a_revoked_or_expired_token_stops_working_at_once(api, team):
    assert api.nora.get("me").status == 200

    AccessToken.objects.filter(user=team.nora).update(revoked_at=timezone.now())
    assert api.nora.get("me").status == 401

    AccessToken.objects.filter(user=team.sam).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert api.sam.get("me").status == 401


def test_a_token_acts_as_its_person_with_their_mailboxes_only(api, north_ticket, south_ticket):
    stan = api.stan.get("tickets").json()

    assert [t["number"] for t in stan["items"]] == [south_ticket.number]
    assert api.stan.get(f"tickets/{north_ticket.number}").status == 404
    me = api.stan.get("me").json()
    assert (me["email"], me["role"]) == ("stan@helpdesk.example", "agent")
    assert me["mailboxes"] == [{"mailbox": "south", "role": "agent"}]


def test_the_consoles_session_works_with_csrf_on_changes(team, north_ticket):
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username=team.nora.username, password=PASSWORD)

    assert browser.get("/api/v1/tickets").status_code == 200
    refused = browser.post(
        f"/api/v1/tickets/{north_ticket.number}/notes",
        '{"body": "x"}',
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]

    browser.get("/admin/login/")  # any page that sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        f"/api/v1/tickets/{north_ticket.number}/notes",
        '{"body": "x"}',
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 201


def test_a_bearer_token_needs_no_csrf_token(api, north_ticket):
    answer = api.nora.post(f"tickets/{north_ticket.number}/notes", {"body": "x"})

    assert answer.status == 201
