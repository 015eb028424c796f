"""The routing section of the mailbox YAML: loaded, exported back, and refused in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskmail.mailboxes.loading import LoadRefused
from deskmail.mailboxes.models import Mailbox
from deskmail.mailboxes.tests.conftest import FIXTURES, load

pytestmark = pytest.mark.django_db

ONE = """\
mailboxes:
  - name: support
    key: SUP
    address: support@example.com
    routing:
      time_zone: Europe/Berlin
      working_hours:
        monday: ["09:00-17:00"]
      templates:
        - {name: closed, body: "<p>We are closed.</p>"}
      actions:
        - queue: Support
"""


def refused(text: str) -> list[str]:
    with pytest.raises(LoadRefused) as caught:
        load(text)
    return caught.value.lines()


def test_the_design_example_loads_its_routing():
    load((FIXTURES / "design-example.yaml").read_text())
    routing = Mailbox.objects.get(name="support").settings.routing
    assert routing.time_zone == "Europe/Berlin"
    assert routing.actions[1].hours is not None
    assert routing.actions[1].hours.outside[0].auto_reply == "after_hours"
    assert routing.triggers[0].when == ["created", "customer_replied"]
    assert routing.triggers[0].conditions.sender_domain == ["vip.example.com"]
    assert routing.triggers[1].when == ["created"]


def test_an_action_with_two_keys_names_its_line():
    text = ONE + "        - {queue: A, agent: ann@example.com}\n"
    assert refused(text) == [
        "mailboxes.yaml:13: mailboxes[0].routing.actions[1]: an action has exactly one of "
        "queue, agent, distribute, hours, auto_reply, stop (found: queue, agent)"
    ]


def test_a_bad_time_range_names_its_line():
    text = ONE.replace('["09:00-17:00"]', '["09:00-17:00", "18:00-08:00"]')
    [line] = refused(text)
    assert line.startswith("mailboxes.yaml:8: mailboxes[0].routing.working_hours.monday: ")
    assert "'18:00-08:00' ends before it starts" in line


def test_an_unknown_time_zone_is_refused():
    text = ONE.replace("Europe/Berlin", "Europe/Atlantis")
    assert refused(text) == [
        "mailboxes.yaml:6: mailboxes[0].routing.time_zone: 'Europe/Atlantis' is not a time "
        "zone name (such as Europe/Berlin or UTC)"
    ]


def test_an_unknown_template_is_refused_on_its_line():
    text = ONE + "        - hours:\n            outside:\n              - auto_reply: gone\n"
    assert refused(text) == [
        "mailboxes.yaml:15: mailboxes[0].routing.actions[1].hours.outside[0].auto_reply: "
        "template 'gone' is not defined in routing.templates"
    ]


def test_hours_need_working_hours():
    text = ONE.replace('      working_hours:\n        monday: ["09:00-17:00"]\n', "")
    text += "      triggers:\n        - name: late\n          if: {hours: outside}\n"
    text += "          then: {auto_reply: closed}\n"
    assert refused(text) == [
        "mailboxes.yaml:13: mailboxes[0].routing.triggers[0].if.hours: "
        "a working-hours rule needs routing.working_hours"
    ]


def test_a_pattern_that_backtracks_is_refused():
    text = ONE + (
        "      triggers:\n"
        "        - name: slow\n"
        "          if: {subject_matches: '(a|aa)+$'}\n"
        "          then: {priority: high}\n"
    )
    [line] = refused(text)
    assert line.startswith("mailboxes.yaml:15: mailboxes[0].routing.triggers[0].if.subject_matches")
    assert "backtracks catastrophically" in line


def test_the_readme_example_loads():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Routing and triggers", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    load(
        "mailboxes:\n  - name: support\n    key: SUP\n    address: support@example.com\n" + example
    )
    routing = Mailbox.objects.get().settings.routing
    assert [t.name for t in routing.triggers] == ["VIP domain", "Outage", "Escalated"]
    escalated = routing.triggers[2]
    assert escalated.when == ["updated"]
    assert (escalated.actions.webhook, escalated.actions.notify_agents) == (True, "escalated")
    assert routing.triggers[1].conditions.subject_matches == r"(?i)\b(down|outage)\b"
