"""`deskmail users` and `deskmail mailboxes agents`: people and teams from scripts."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from deskmail.ingest.api import ingest
from deskmail.testing.builders import make_email, make_mailbox

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_it_creates_an_agent_who_can_sign_in_and_sees_their_mailbox_only(monkeypatch):
    north = make_mailbox("north", "NO", "north@helpdesk.example")
    south = make_mailbox("south", "SO", "south@helpdesk.example")
    ingest(north, make_email(to=north.address, subject="For North"))
    ingest(south, make_email(to=south.address, subject="For South"))
    monkeypatch.setenv("NEW_AGENT_PASSWORD", "a long enough passphrase 42")

    output = run(
        "users", "create", "Kim@Helpdesk.example", "--role", "agent", "--mailbox", "north",
        "--password-env", "NEW_AGENT_PASSWORD",
    )  # fmt: skip

    assert "created kim@helpdesk.example (agent; north)" in output
    assert authenticate(username="kim@helpdesk.example", password="a long enough passphrase 42")
    seen = json.loads(run("tickets", "--json", "--as", "kim@helpdesk.example"))
    assert [row["subject"] for row in seen] == ["For North"]
    assert "kim@helpdesk.example" in run("users", "list")


def test_it_refuses_an_unknown_mailbox_and_a_missing_password_variable():
    with pytest.raises(CommandError, match="no mailbox named 'nowhere'"):
        run("users", "create", "kim@helpdesk.example", "--role", "agent", "--mailbox", "nowhere")
    with pytest.raises(CommandError, match="UNSET_VARIABLE is not set"):
        run("users", "create", "kim@helpdesk.example", "--role", "agent",
            "--password-env", "UNSET_VARIABLE")  # fmt: skip


def test_it_adds_and_removes_people_on_a_mailboxs_team():
    make_mailbox("north", "NO", "north@helpdesk.example")
    run("users", "create", "kim@helpdesk.example", "--role", "agent")
    run("users", "create", "lee@helpdesk.example", "--role", "supervisor")

    added = run("mailboxes", "agents", "add", "north", "kim@helpdesk.example")
    run("mailboxes", "agents", "add", "north", "lee@helpdesk.example", "--supervisor")
    removed = run("mailboxes", "agents", "remove", "north", "kim@helpdesk.example")

    assert "north: added kim@helpdesk.example" in added
    assert "north: removed kim@helpdesk.example" in removed
    assert run("mailboxes", "agents", "list", "north").splitlines() == [
        "  lee@helpdesk.example (supervisor)"
    ]
    with pytest.raises(CommandError, match="no person with the address"):
        run("mailboxes", "agents", "add", "north", "nobody@helpdesk.example")


def test_it_replies_as_a_person_only_on_their_mailboxes(tmp_path):
    north = make_mailbox("north", "NO", "north@helpdesk.example", outbound={"host": "127.0.0.1"})
    make_mailbox("south", "SO", "south@helpdesk.example")
    number = ingest(north, make_email(to=north.address)).ticket.number
    run("users", "create", "kim@helpdesk.example", "--role", "agent", "--mailbox", "south")
    body = tmp_path / "reply.txt"
    body.write_text("On it.")

    with pytest.raises(CommandError, match=f"no ticket #{number}"):
        run("reply", str(number), "--body-file", str(body), "--as", "kim@helpdesk.example")
    run("mailboxes", "agents", "add", "north", "kim@helpdesk.example")
    output = run("reply", str(number), "--body-file", str(body), "--as", "kim@helpdesk.example")

    assert f"for ticket #{number}: To ann@acme.example" in output
