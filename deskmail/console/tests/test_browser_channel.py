"""An admin switches the email channel off and on in a real browser; everyone sees the
banner meanwhile, on open pages too."""

from __future__ import annotations

import pytest

from deskmail.core.models import ChannelSwitch
from deskmail.testing.browser import Console, assert_named_controls

pytestmark = pytest.mark.browser


def test_an_admin_switches_the_channel_off_and_every_page_says_so_until_on(console: Console, team):
    # An agent has the ticket list open (live updates) before anything is switched.
    agent = console.another_person(team.nora)
    agent_banner = agent.locator("#channel-off")
    assert agent_banner.count() == 0
    assert agent.get_by_role("link", name="Email channel").count() == 0

    page = console.sign_in(team.ada)
    page.get_by_role("link", name="Email channel").click()
    page.wait_for_url(f"{console.url}/channel/")
    assert_named_controls(page)
    assert page.locator("#channel-off").count() == 0

    page.get_by_label("Reason (shown on every console page)").fill("Moving the mail server")
    page.get_by_role("button", name="Switch the channel off").click()

    banner = page.locator("#channel-off")
    banner.get_by_text("The email channel is switched off:").wait_for()
    assert "Moving the mail server" in banner.inner_text()
    page.get_by_text("The email channel is off: no mail is fetched or sent").wait_for()
    assert not ChannelSwitch.objects.get().on

    # The agent's open page shows it without a reload, without the switch.
    agent_banner.get_by_text("Moving the mail server").wait_for()
    assert agent_banner.get_by_role("link").count() == 0
    # And so does every page they open.
    agent.goto(f"{console.url}/new/")
    agent.locator("#channel-off").get_by_text("The email channel is switched off:").wait_for()
    agent.goto(f"{console.url}/tickets/")
    agent_banner.wait_for()

    page.get_by_role("link", name="Switch it on").click()
    page.get_by_role("button", name="Switch the channel on").click()
    page.get_by_text("The email channel is on: mail is fetched and sent again.").wait_for()
    assert page.locator("#channel-off").count() == 0
    assert ChannelSwitch.objects.get().on
    agent_banner.wait_for(state="detached")
