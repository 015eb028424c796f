"""Mailboxes, the outbox, webhooks, canned answers and the catalog over the API."""

from __future__ import annotations

import pytest

from deskmail.api.tests.conftest import customer_ticket
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import OutboxItem
from deskmail.services import actions
from deskmail.tickets.models import Queue, TicketType
from deskmail.webhooks.fanout import fan_out
from deskmail.webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def test_a_mailboxs_detail_has_its_configuration_and_health_but_no_secret(api, team):
    team.north.inbound_secret = "hunter2-imap"
    team.north.outbound_secret = "hunter2-smtp"
    team.north.save()

    answer = api.ada.get("mailboxes/north")

    assert answer.status == 200 and b"hunter2" not in answer.content
    detail = answer.json()
    assert detail["address"] == "north@helpdesk.example"
    assert detail["config"]["outbound"]["host"] == "127.0.0.1"
    assert detail["health"]["has_outbound_secret"] is True
    assert detail["health"]["status"] == "active"


def test_admins_switch_mailboxes_off_and_on(api, team):
    Mailbox.objects.filter(pk=team.north.pk).update(
        status="failed", consecutive_failures=5, failed_reason="login refused"
    )

    assert api.ada.post("mailboxes/north/disable").json()["status"] == "disabled"
    assert api.ada.post("mailboxes/north/enable").json()["status"] == "active"
    health = api.ada.get("mailboxes/north/health").json()
    assert (health["consecutive_failures"], health["failed_reason"]) == (0, "")


def test_everyone_lists_the_mailboxes_they_work_in(api):
    assert [m["name"] for m in api.stan.get("mailboxes").json()] == ["south"]
    assert [m["name"] for m in api.ada.get("mailboxes").json()] == ["north", "south"]


def test_the_outbox_lists_waiting_and_failed_mail_and_retries(api, team, north_ticket):
    nora = team.actor(team.nora)
    waiting = actions.reply(nora, north_ticket, body_text="One")
    failed = actions.reply(nora, north_ticket, body_text="Two")
    OutboxItem.objects.filter(pk=failed.pk).update(
        status="failed", last_error="550 5.1.1 mailbox unknown"
    )

    listed = api.nora.get("outbox").json()["items"]
    only_failed = api.nora.get("outbox?status=failed").json()["items"]
    retried = api.nora.post(f"outbox/{failed.pk}/retry")

    assert [i["id"] for i in listed] == [failed.pk, waiting.pk]
    assert [(i["id"], i["last_error"]) for i in only_failed] == [
        (failed.pk, "550 5.1.1 mailbox unknown")
    ]
    assert retried.status == 200 and retried.json()["status"] == "pending"
    assert api.stan.get("outbox").json()["items"] == []


def test_webhooks_are_registered_with_a_secret_shown_once_and_logged(api, team):
    created = api.ada.post(
        "webhooks",
        {
            "url": "https://hooks.example.com/in",
            "events": ["ticket.created"],
            "mailboxes": ["north"],
        },
    )
    assert created.status == 201
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in api.ada.get(f"webhooks/{hook['id']}").json()
    assert Endpoint.objects.get().secret == hook["secret"]

    customer_ticket(team.north)
    fan_out()
    log = api.ada.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    assert [(d["event"], d["status"]) for d in log] == [("ticket.created", "pending")]
    detail = api.ada.get(f"webhooks/{hook['id']}/deliveries/{log[0]['id']}").json()
    assert detail["body"]["event"] == "ticket.created" and detail["attempt_log"] == []

    refused = api.ada.post("webhooks", {"url": "http://127.0.0.1:9/in"})
    assert (refused.status, refused.json()["field"]) == (422, "url")
    disabled = api.ada.patch(f"webhooks/{hook['id']}", {"enabled": False}).json()
    assert disabled["status"] == "disabled" and "ada" in disabled["disabled_reason"]


def test_canned_answers_queues_types_and_tags_are_listed(api, team, north_ticket):
    Queue.objects.create(name="Hardware")
    TicketType.objects.create(name="Incident", fields=[{"name": "asset", "kind": "text"}])
    actions.set_tags(team.actor(team.nora), north_ticket, add=["printer"])
    made = api.ada.post("canned-answers", {"name": "Hi", "body": "Hi {{ contact.name }}"})

    assert made.status == 201
    assert [a["name"] for a in api.nora.get("canned-answers").json()] == ["Hi"]
    assert [q["name"] for q in api.nora.get("queues").json()] == ["Hardware"]
    assert api.nora.get("ticket-types").json()[0]["fields"] == [{"name": "asset", "kind": "text"}]
    assert [t["name"] for t in api.nora.get("tags").json()] == ["printer"]
    assert api.stan.get("tags").json() == []
    contacts = api.nora.get("contacts?q=ann").json()["items"]
    assert [c["address"] for c in contacts] == ["ann@acme.example"]
    detail = api.nora.get(f"contacts/{contacts[0]['id']}").json()
    assert detail["tickets"] == [north_ticket.number]


def test_people_make_and_revoke_their_own_tokens(api):
    made = api.nora.post("tokens", {"name": "zapier", "expires_days": 90})
    assert made.status == 201 and made.headers["Cache-Control"] == "no-store"
    token = made.json()

    listed = api.nora.get("tokens").json()
    assert {t["name"] for t in listed} == {"tests", "zapier"}
    assert all("token" not in t for t in listed)
    assert api.nora.delete(f"tokens/{token['id']}").status == 204
    assert [t["state"] for t in api.nora.get("tokens").json() if t["name"] == "zapier"] == [
        "revoked"
    ]
