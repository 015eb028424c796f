"""Errors are problem documents that name the field; unreadable input never becomes a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": ["ok", "nul\u0000byte"]}, "tags.1"),
        ({"custom_fields": {"note": "\ud800"}}, "custom_fields.note"),
        ({"custom_fields": {"\u0000": "x"}}, "custom_fields.\u0000"),
    ],
)
def test_it_refuses_text_no_database_can_store_naming_the_field(api, north_ticket, body, field):
    answer = api.nora.patch(f"tickets/{north_ticket.number}", body)

    assert answer.status == 422
    assert answer.json()["field"] == field


def test_it_refuses_such_text_in_query_parameters_too(api):
    answer = api.nora.get("tickets?tag=a%00b")

    assert (answer.status, answer.json()["field"]) == (422, "tag")


def test_a_body_that_is_not_a_json_object_is_a_400_problem(api, north_ticket):
    for raw in ("{broken", "[1, 2]", "1.5"):
        answer = api.nora.call(
            "POST", f"tickets/{north_ticket.number}/notes", raw, content_type="application/json"
        )
        assert answer.status == 400 and answer.content_type == "application/problem+json"


def test_a_validation_error_lists_every_field(api):
    answer = api.nora.post("tickets", {"to": [], "subject": ""})

    problem = answer.json()
    assert answer.status == 422
    assert {e["field"] for e in problem["errors"]} >= {"mailbox", "to", "subject"}
    assert problem["field"] == problem["errors"][0]["field"]


def test_an_unknown_path_under_the_api_is_a_problem_too(api):
    answer = api.nora.get("/api/v2/tickets")

    assert answer.status == 404 and answer.content_type == "application/problem+json"
