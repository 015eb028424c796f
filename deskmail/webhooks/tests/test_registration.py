"""Registering endpoints: admins only, valid URLs, no private addresses unless allowed; and the
`deskmail webhooks` command."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from deskmail.events import log
from deskmail.services import webhooks
from deskmail.services.access import SYSTEM
from deskmail.services.errors import Forbidden, Invalid
from deskmail.testing.webhook_receiver import WebhookReceiver
from deskmail.webhooks.models import Endpoint
from deskmail.webhooks.tests.helpers import ticket

pytestmark = pytest.mark.django_db


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    out = io.StringIO()
    call_command("webhooks", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_only_admins_register_endpoints(team):
    with pytest.raises(Forbidden):
        webhooks.create(team.actor(team.sam), "https://hooks.example.com/x")

    row, secret = webhooks.create(team.actor(team.ada), "https://hooks.example.com/x")
    assert secret.startswith("whsec_") and row.secret == secret
    assert row.after_event == log.latest() and row.created_by == team.ada


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/x", "starts with https"),
        ("https:///nohost", "starts with https"),
        ("https://user:pw@hooks.example.com/", "no user name"),
        ("http://127.0.0.1:8080/x", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.0.0.5/x", "private"),
        ("http://localhost:9000/x", "local name"),
        ("http://hooks.internal/x", "local name"),
    ],
)
def test_it_refuses_urls_it_will_not_send_to_naming_the_field(team, url, why):
    with pytest.raises(Invalid, match=why) as refused:
        webhooks.create(SYSTEM, url)
    assert refused.value.field == "url"


def test_an_admin_may_allow_private_addresses_explicitly(team):
    row, _ = webhooks.create(SYSTEM, "http://10.0.0.5/x", allow_private_addresses=True)
    assert row.allow_private_addresses


def test_it_names_unknown_events_mailboxes_and_short_secrets(team):
    for options, field in [
        ({"events": ["ticket.exploded"]}, "events"),
        ({"mailboxes": ["west"]}, "mailboxes"),
        ({"secret": "short"}, "secret"),
    ]:
        with pytest.raises(Invalid) as refused:
            webhooks.create(SYSTEM, "https://hooks.example.com/x", **options)
        assert refused.value.field == field


def test_the_command_adds_lists_sends_and_removes(team, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "whsec_from_the_environment_123")
    with WebhookReceiver() as receiver:
        output = _run(
            "add",
            receiver.url,
            "--event",
            "ticket.created",
            "--mailbox",
            "north",
            "--allow-private",
            "--secret-env",
            "HOOK_SECRET",
        )
        row = Endpoint.objects.get()
        assert f"webhook {row.pk}" in output and row.secret == "whsec_from_the_environment_123"
        ticket(team.north)

        assert "1 delivered" in _run("send")
        assert len(receiver.received) == 1
        assert "delivered" in _run("deliveries", str(row.pk))
        assert "ticket.created" in _run("list") and "north" in _run("list")
        assert "disabled" in _run("change", str(row.pk), "--disable")
        assert "removed" in _run("remove", str(row.pk))
    assert not Endpoint.objects.exists()


def test_the_command_prints_a_made_secret_alone_on_its_last_line(team):
    secret = _run("add", "https://hooks.example.com/in").strip().splitlines()[-1]

    assert Endpoint.objects.get().secret == secret
    with pytest.raises(CommandError, match="url"):
        _run("add", "http://127.0.0.1/in")
