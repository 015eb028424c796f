"""Where webhooks may connect: public addresses only, checked after resolving, pinned."""

from __future__ import annotations

import pytest

from deskmail.testing.webhook_receiver import WebhookReceiver
from deskmail.webhooks import transport
from deskmail.webhooks.addresses import Refused, checked, why_private


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_it_calls_non_public_addresses_private(address):
    assert why_private(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_it_lets_public_addresses_pass(address):
    assert why_private(address) is None


def test_it_refuses_a_name_when_any_of_its_addresses_is_private():
    def lookup(host, port):
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(Refused, match="10.0.0.7 is a private address"):
        checked("hooks.example.com", 443, allow_private=False, lookup=lookup)
    assert checked("hooks.example.com", 443, allow_private=True, lookup=lookup) == "93.184.216.34"


def test_it_never_connects_to_a_loopback_address_it_resolved():
    with WebhookReceiver() as receiver:
        outcome = transport.post(
            f"http://hooks.example.com:{receiver.port}/x",
            b"{}",
            {},
            allow_private=False,
            lookup=lambda host, port: ["127.0.0.1"],
        )

        assert not outcome.ok and outcome.status_code is None
        assert "127.0.0.1 is a loopback address" in outcome.error
        assert receiver.received == []


def test_it_connects_to_the_address_it_checked_with_the_urls_host_name():
    with WebhookReceiver() as receiver:
        outcome = transport.post(
            f"http://hooks.example.com:{receiver.port}/in?x=1",
            b'{"a": 1}',
            {"X-Test": "yes"},
            allow_private=True,
            lookup=lambda host, port: ["127.0.0.1"],
        )

        assert outcome.ok and outcome.status_code == 200 and outcome.response == "ok"
        (got,) = receiver.received
        assert got.path == "/in?x=1" and got.body == b'{"a": 1}'
        assert got.headers["Host"] == f"hooks.example.com:{receiver.port}"
        assert got.headers["X-Test"] == "yes"


def test_it_reports_a_receiver_that_is_down_in_words():
    receiver = WebhookReceiver()  # never started: nothing listens on its port
    outcome = transport.post(receiver.url, b"{}", {}, allow_private=True)

    assert not outcome.ok and "ConnectionRefusedError" in outcome.error
