"""The channel switch: only admins switch it; each change is one row and one event."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from deskmail.core import channel as stored
from deskmail.core.channel import ChannelWatch, SwitchListener
from deskmail.core.models import ChannelSwitch
from deskmail.events.models import Event
from deskmail.services import channel
from deskmail.services.access import SYSTEM
from deskmail.services.errors import Forbidden, Invalid
from deskmail.testing.personas import Team

pytestmark = pytest.mark.django_db


def switches() -> list[dict[str, object]]:
    return [e.data for e in Event.objects.filter(kind=Event.Kind.CHANNEL_SWITCHED).order_by("id")]


def test_it_is_on_until_an_admin_switches_it_off_with_who_when_and_why(team: Team):
    ada = team.actor(team.ada)
    assert channel.state(ada).on and channel.banner() is None

    state = channel.switch(ada, False, "  Moving to the new\nserver  ")

    assert not state.on and state.off
    assert state.reason == "Moving to the new server"
    row = ChannelSwitch.objects.get()
    assert not row.on and row.changed_by == team.ada and row.changed_at is not None
    assert row.changed_by_name == state.changed_by == ada.name
    assert channel.banner() == state
    assert stored.is_on() is False
    [event] = Event.objects.filter(kind=Event.Kind.CHANNEL_SWITCHED)
    assert event.mailbox_id is None
    assert event.data == {"on": False, "by": ada.name, "reason": "Moving to the new server"}


def test_switching_to_the_state_it_has_changes_and_records_nothing(team: Team):
    ada = team.actor(team.ada)
    channel.switch(ada, False, "first")
    again = channel.switch(ada, False, "second")
    assert again.reason == "first"
    channel.switch(ada, True)
    channel.switch(ada, True)
    assert [(data["on"], data["reason"]) for data in switches()] == [(False, "first"), (True, "")]
    assert channel.state(ada).on and channel.state(ada).reason == ""


def test_only_admins_see_or_switch_it(team: Team):
    for person in (team.sam, team.nora, team.stan):
        with pytest.raises(Forbidden):
            channel.switch(team.actor(person), False)
        with pytest.raises(Forbidden):
            channel.state(team.actor(person))
    assert stored.is_on() and switches() == []


def test_the_command_line_is_recorded_as_such_and_a_long_reason_is_refused():
    with pytest.raises(Invalid):
        channel.switch(SYSTEM, False, "x" * (channel.MAX_REASON + 1))
    assert channel.switch(SYSTEM, False).changed_by == "deskmail (command line)"


def test_a_watch_reads_again_only_after_its_interval_or_a_change(
    django_assert_num_queries: object,
):
    watch = ChannelWatch(seconds=3600)
    assert watch.is_on()
    ChannelSwitch.objects.create(pk=ChannelSwitch.ROW, on=False)
    with django_assert_num_queries(0):  # type: ignore[operator]
        for _ in range(100):
            assert watch.is_on()  # the stale value: no query per message
    heard: list[bool] = []
    watch.subscribe(lambda: heard.append(True))
    watch.changed()
    assert heard == [True]
    assert not watch.is_on()


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_listener_hears_the_switch_at_once():
    if connection.vendor != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's; elsewhere the watch reads on its interval")
    watch = ChannelWatch(seconds=3600)
    assert watch.is_on()
    heard = threading.Event()
    watch.subscribe(heard.set)
    listener = SwitchListener(watch)
    listener.start()
    try:
        assert heard.wait(15), "the listener did not start listening"  # it reads afresh then
        heard.clear()
        channel.switch(SYSTEM, False)
        assert heard.wait(15), "the switch was not heard"
        assert not watch.is_on()
    finally:
        listener.stop()
        listener.join(timeout=15)
    assert not listener.is_alive()
