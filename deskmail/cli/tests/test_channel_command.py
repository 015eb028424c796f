"""`deskmail channel`: the switch from scripts, with who and why recorded."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from deskmail.core.models import ChannelSwitch
from deskmail.events.models import Event
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_it_switches_the_channel_off_and_on_and_tells_its_state():
    assert run("channel").startswith("the email channel is on\n")

    said = run("channel", "off", "--reason", "Moving the database")

    assert "the email channel is off (switched off by deskmail (command line) at " in said
    assert said.splitlines()[0].endswith("UTC): Moving the database")
    assert "mailboxes syncing: 0, paused: 0; mail waiting in the outbox: 0" in said
    state = json.loads(run("channel", "status", "--json"))
    assert state["on"] is False and state["reason"] == "Moving the database"
    assert state["changed_by"] == "deskmail (command line)"
    assert run("channel", "off").startswith("the email channel was already off\n")

    assert run("channel", "on").startswith("the email channel is on (switched on by ")
    assert ChannelSwitch.objects.get().on
    assert Event.objects.filter(kind=Event.Kind.CHANNEL_SWITCHED).count() == 2


def test_it_records_the_admin_named_and_refuses_anyone_else(team: Team):
    run("channel", "off", "--as", "ada@helpdesk.example")
    assert ChannelSwitch.objects.get().changed_by == team.ada

    with pytest.raises(CommandError, match="only an admin"):
        run("channel", "on", "--as", "nora@helpdesk.example")
    assert not ChannelSwitch.objects.get().on
