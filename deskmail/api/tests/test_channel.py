"""The channel switch over the API: admins read and put it; others get 403."""

from __future__ import annotations

import pytest

from deskmail.core.models import ChannelSwitch
from deskmail.events.models import Event
from deskmail.services import actions
from deskmail.services.access import SYSTEM

pytestmark = pytest.mark.django_db


def test_admins_switch_the_channel_off_and_on_with_a_reason(api, team, north_ticket):
    assert api.ada.get("channel").json() == {
        "on": True,
        "changed_at": None,
        "changed_by": None,
        "reason": "",
        "mailboxes_syncing": 0,
        "mailboxes_paused": 0,
        "outbox_waiting": 0,
    }

    off = api.ada.call("PUT", "channel", {"on": False, "reason": "Moving servers"})
    actions.reply(SYSTEM, north_ticket, body_text="Queued while off.")

    assert off.status == 200
    assert off.json()["on"] is False and off.json()["reason"] == "Moving servers"
    assert off.json()["changed_by"] == "ada@helpdesk.example"
    state = api.ada.get("channel").json()
    assert state["on"] is False and state["changed_at"] and state["outbox_waiting"] == 1
    # The same PUT again changes nothing.
    assert api.ada.call("PUT", "channel", {"on": False}).json()["reason"] == "Moving servers"
    assert api.ada.call("PUT", "channel", {"on": True}).json()["on"] is True
    assert ChannelSwitch.objects.get().on
    assert Event.objects.filter(kind=Event.Kind.CHANNEL_SWITCHED).count() == 2


def test_others_are_refused_and_a_bad_body_names_its_field(api, team):
    for persona in ("sam", "nora", "stan"):
        answer = api[persona].call("PUT", "channel", {"on": False})
        assert answer.status == 403 and answer.content_type == "application/problem+json"
    assert api.nobody.get("channel").status == 401
    too_long = api.ada.call("PUT", "channel", {"on": False, "reason": "x" * 501})
    assert too_long.status == 422 and b"reason" in too_long.content
    assert api.ada.call("PUT", "channel", {"reason": "no state"}).status == 422
    assert not ChannelSwitch.objects.exists()
