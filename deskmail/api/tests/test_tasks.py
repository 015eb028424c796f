"""Tasks over the API: give one, read its history after a reply, mark it done."""

from __future__ import annotations

import pytest

from deskmail.ingest.api import ingest
from deskmail.tasks.models import Task
from deskmail.testing.builders import make_email

pytestmark = pytest.mark.django_db


def _give(caller, ticket, key="task-1", **body):
    body.setdefault("to", "Vic Vendor <vic@vendor.example>")
    body.setdefault("title", "Order a fuser")
    return caller.post(f"tickets/{ticket.number}/tasks", body, headers={"Idempotency-Key": key})


def test_a_task_is_created_once_and_its_reply_shows_in_its_history(api, team, north_ticket):
    first = _give(api.nora, north_ticket, instructions="Model FX-9.", include_customer_message=True)
    again = _give(api.nora, north_ticket, instructions="Model FX-9.", include_customer_message=True)

    assert first.status == again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Task.objects.count() == 1
    task = first.json()
    assert first.headers["Location"] == f"/api/v1/tickets/{north_ticket.number}/tasks/{task['id']}"
    assert task["to"] == "vic@vendor.example"
    assert task["status"] == "open" and task["new_reply"] is False
    assert task["message_id"].startswith(f"dm.K{task['id']}.")
    assert task["outbox_status"] == "pending"
    assert [e["kind"] for e in task["history"]] == ["sent"]
    assert task["history"][0]["by"]["email"] == "nora@helpdesk.example"

    ingest(
        team.north,
        make_email(
            sender="vic@vendor.example",
            to=team.north.address,
            subject="Re: task",
            body="Ordered <b>today</b>.",
            in_reply_to=task["message_id"],
        ),
    )
    (listed,) = api.sam.get(f"tickets/{north_ticket.number}/tasks").json()

    assert listed["new_reply"] is True
    reply = listed["history"][-1]
    assert reply["kind"] == "reply" and reply["by"] is None
    assert reply["sender"] == "vic@vendor.example"
    assert reply["text"].strip() == "Ordered <b>today</b>."


def test_marking_done_and_seen(api, north_ticket):
    task = _give(api.nora, north_ticket).json()
    url = f"tickets/{north_ticket.number}/tasks/{task['id']}"

    done = api.nora.patch(url, {"status": "done", "seen": True})
    reopened = api.nora.patch(url, {"status": "open"})

    assert done.status == 200 and done.json()["status"] == "done"
    assert done.json()["done_at"] is not None
    assert reopened.json()["status"] == "open" and reopened.json()["done_at"] is None
    assert [e["kind"] for e in reopened.json()["history"]] == ["sent", "done", "reopened"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "no address at all"}, "to"),
        ({"to": "north@helpdesk.example"}, "to"),
        ({"title": "   "}, "title"),
    ],
)
def test_it_refuses_a_task_naming_the_field(api, north_ticket, body, field):
    answer = _give(api.nora, north_ticket, **body)

    assert answer.status == 422
    assert answer.content_type == "application/problem+json"
    assert answer.json()["field"] == field
    assert not Task.objects.exists()


def test_a_task_of_another_ticket_or_mailbox_is_404(api, north_ticket, south_ticket):
    task = _give(api.nora, north_ticket).json()

    assert api.stan.get(f"tickets/{north_ticket.number}/tasks").status == 404
    assert api.ada.get(f"tickets/{south_ticket.number}/tasks/{task['id']}").status == 404
    assert (
        api.stan.patch(
            f"tickets/{north_ticket.number}/tasks/{task['id']}", {"status": "done"}
        ).status
        == 404
    )
