"""The email channel page for admins, and the banner on every page while it is off."""

from __future__ import annotations

import pytest

from deskmail.console.tests.conftest import World
from deskmail.core.models import ChannelSwitch
from deskmail.events.models import Event
from deskmail.services import access, channel, live

pytestmark = pytest.mark.django_db

BANNER = b"The email channel is switched off:"


def test_an_admin_switches_the_channel_off_with_a_reason_and_on_again(world: World):
    ada = world.client(world.team.ada)
    page = ada.get("/channel/")
    assert page.status_code == 200 and b"Switch the channel off" in page.content
    assert BANNER not in page.content

    done = ada.post("/channel/", {"on": "false", "reason": "Moving the mail server"}, follow=True)

    assert done.redirect_chain == [("/channel/", 302)]
    assert b"The email channel is off: no mail is fetched or sent" in done.content
    assert BANNER in done.content and b"Moving the mail server" in done.content
    assert b"Switch the channel on" in done.content
    row = ChannelSwitch.objects.get()
    assert not row.on and row.changed_by == world.team.ada
    assert ada.post("/channel/", {"on": "true"}).status_code == 302
    assert ChannelSwitch.objects.get().on
    assert Event.objects.filter(kind=Event.Kind.CHANNEL_SWITCHED).count() == 2


def test_only_admins_have_the_page(world: World):
    for person in (world.team.sam, world.team.nora, world.team.stan):
        client = world.client(person)
        assert client.get("/channel/").status_code == 404
        assert client.post("/channel/", {"on": "false"}).status_code == 404
    assert world.client().get("/channel/").status_code == 302  # to the sign-in page
    assert not ChannelSwitch.objects.exists()


def test_every_page_shows_the_banner_while_off_and_agents_are_told_their_reply_waits(
    world: World,
):
    channel.switch(access.actor_for(world.team.ada), False, "Maintenance until 10:00")
    nora = world.client(world.team.nora)
    number = world.ticket.number
    for url in ("/tickets/", "/tickets/?view=all", f"/t/{number}/", "/new/"):
        page = nora.get(url)
        assert page.status_code == 200, url
        assert BANNER in page.content and b"Maintenance until 10:00" in page.content, url
        assert b'href="/channel/"' not in page.content  # the switch is for admins
    admin_page = world.client(world.team.ada).get("/accounts/")
    assert b'href="/channel/">Switch it on' in admin_page.content

    reply = {"to": "ann@acme.example", "body": "Soon."}
    sent = nora.post(f"/t/{number}/reply/", reply, follow=True)

    assert sent.status_code == 200
    assert b"it goes out when the channel is on again" in sent.content


def test_the_banner_alone_for_pages_that_ask_again_and_the_switch_in_everyones_live_events(
    world: World,
):
    stan = world.client(world.team.stan)
    assert stan.get("/channel/banner/").content.strip() == b""
    channel.switch(access.actor_for(world.team.ada), False, "Maintenance")

    again = stan.get("/channel/banner/")

    assert BANNER in again.content and b"Maintenance" in again.content
    seen = live.visible(access.actor_for(world.team.stan), 0)
    assert [e["kind"] for e in seen if e["mailbox"] is None] == ["channel.switched"]
    assert world.client().get("/channel/banner/").status_code == 302
