"""The ticket page's Tasks panel: give a task, mark it done, read a reply's whole mail."""

from __future__ import annotations

import pytest
from django.test import Client

from deskmail.console.tests.conftest import NORTH_SECRET, World
from deskmail.ingest.api import ingest
from deskmail.outbound.models import OutboxItem
from deskmail.tasks.models import Task, TaskEntry
from deskmail.testing.builders import make_email

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def nora(world: World) -> Client:
    return world.client(world.team.nora)


def _give(client: Client, world: World, **data) -> object:
    data.setdefault("to", "vic@vendor.example")
    data.setdefault("title", "Order a fuser")
    return client.post(f"/t/{world.ticket.number}/tasks/", data, headers=HTMX)


def _replied(world: World, task: Task, html: str) -> TaskEntry:
    ingest(
        world.team.north,
        make_email(
            sender="vic@vendor.example",
            to=world.team.north.address,
            body="Ordered.",
            html=html,
            in_reply_to=task.message_id,
        ),
    )
    return task.entries.get(kind=TaskEntry.Kind.REPLY)


def test_it_gives_a_task_and_answers_with_the_panel(world: World, nora):
    response = _give(nora, world, instructions="Model FX-9.", include_customer_message="on")

    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<section id="tasks"')
    assert b"Task sent to vic@vendor.example." in response.content
    task = Task.objects.get()
    assert task.assigned_by == world.team.nora and task.instructions == "Model FX-9."
    page = nora.get(f"/t/{world.ticket.number}/")
    assert b"Order a fuser" in page.content and b'id="task-list"' in page.content


def test_a_refused_task_says_why_and_keeps_what_was_typed(world: World, nora):
    response = _give(nora, world, to=world.team.north.address, title="Keep me")

    assert response.status_code == 422
    assert b"one of our own mailboxes" in response.content
    assert b'value="Keep me"' in response.content
    assert not Task.objects.exists()


def test_without_htmx_it_redirects_to_the_task(world: World, nora):
    response = nora.post(
        f"/t/{world.ticket.number}/tasks/", {"to": "vic@vendor.example", "title": "Call"}
    )

    task = Task.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/t/{world.ticket.number}/#task-{task.pk}"


def test_done_and_reopen_answer_with_the_list(world: World, nora):
    _give(nora, world)
    task = Task.objects.get()
    url = f"/t/{world.ticket.number}/tasks/{task.pk}/status/"

    done = nora.post(url, {"status": "done"}, headers=HTMX)
    reopened = nora.post(url, {"status": "open"}, headers=HTMX)

    assert done.content.lstrip().startswith(b'<div id="task-list"')
    assert b"Task done." in done.content and b"Reopen" in done.content
    assert b"Task open again." in reopened.content
    assert [e.kind for e in task.entries.all()] == ["sent", "done", "reopened"]


def test_a_reply_shows_as_new_until_read_and_its_mail_is_sanitised(world: World, nora):
    _give(nora, world)
    task = Task.objects.get()
    entry = _replied(
        world,
        task,
        '<p onclick="x()">Ordered<script>alert(1)</script><img src="https://t.example/p.gif"></p>',
    )

    page = nora.get(f"/t/{world.ticket.number}/")
    assert b"New reply" in page.content
    frame = nora.get(f"/t/{world.ticket.number}/tasks/{task.pk}/replies/{entry.pk}/body/")
    assert frame.status_code == 200
    assert b"<script" not in frame.content and b"onclick" not in frame.content
    assert b'<img data-remote-src="https://t.example/p.gif">' in frame.content  # held back
    assert "default-src 'none'" in frame["Content-Security-Policy"]
    seen = nora.post(f"/t/{world.ticket.number}/tasks/{task.pk}/seen/", headers=HTMX)
    assert b"New reply" not in seen.content


def test_stan_of_south_gets_404_for_every_task_address(world: World, nora):
    _give(nora, world, title=f"Check {NORTH_SECRET}")
    task = Task.objects.get()
    entry = _replied(world, task, "<p>Checked.</p>")
    stan = world.client(world.team.stan)
    base = f"/t/{world.ticket.number}/tasks/"

    for method, url in [
        ("get", base),
        ("post", base),
        ("post", f"{base}{task.pk}/status/"),
        ("post", f"{base}{task.pk}/seen/"),
        ("get", f"{base}{task.pk}/replies/{entry.pk}/body/"),
    ]:
        response = getattr(stan, method)(url, {"status": "done", "to": "x@y.example", "title": "x"})
        assert response.status_code == 404, (method, url)
        assert NORTH_SECRET.encode() not in response.content
    task.refresh_from_db()
    assert task.status == "open"


def test_a_task_of_another_ticket_is_404_through_this_one(world: World, nora):
    _give(nora, world)
    task = Task.objects.get()
    other = world.south_ticket

    ada = world.client(world.team.ada)
    response = ada.post(f"/t/{other.number}/tasks/{task.pk}/status/", {"status": "done"})

    assert response.status_code == 404


def test_the_panel_posts_with_the_csrf_token(world: World):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.team.nora)
    page = client.get(f"/t/{world.ticket.number}/")
    token = page.context["csrf_token"]

    refused = client.post(
        f"/t/{world.ticket.number}/tasks/", {"to": "vic@vendor.example", "title": "x"}
    )
    accepted = client.post(
        f"/t/{world.ticket.number}/tasks/",
        {"to": "vic@vendor.example", "title": "x", "csrfmiddlewaretoken": str(token)},
        headers=HTMX,
    )

    assert refused.status_code == 403
    assert accepted.status_code == 200


def test_a_failed_task_mail_says_so_and_can_be_sent_again(world: World, nora):
    _give(nora, world)
    task = Task.objects.select_related("outbox_item").get()
    OutboxItem.objects.filter(pk=task.outbox_item_id).update(
        status="failed", last_error="550 no such user"
    )

    page = nora.get(f"/t/{world.ticket.number}/")
    assert b"the mail failed: 550 no such user" in page.content
    nora.post(f"/outbox/{task.outbox_item_id}/retry/")

    assert OutboxItem.objects.get(pk=task.outbox_item_id).status == "pending"
