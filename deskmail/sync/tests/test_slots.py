"""Slots: a bounded number of holders, waiters that give up when stopped, one set per server."""

from __future__ import annotations

import pytest

from deskmail.connectors.settings import InboundConfig
from deskmail.sync import logins, slots
from deskmail.sync.slots import Slots, never


@pytest.fixture(autouse=True)
def _quick_stop_checks(monkeypatch):
    monkeypatch.setattr(slots, "STOP_CHECK_S", 0.01)


def test_a_waiter_asked_to_stop_gives_up_without_a_slot():
    gate = Slots(1)
    with gate.take() as first:
        with gate.take(stop=lambda: True) as second:
            assert (first, second) == (True, False)
    with gate.take(stop=lambda: True) as again:
        assert again  # free again: taken at once, however stopped


def _imap(host: str, port: int = 993) -> InboundConfig:
    return InboundConfig(protocol="imap", host=host, port=port)


def test_logins_to_one_server_share_its_slots_and_other_servers_have_their_own(monkeypatch):
    monkeypatch.setattr(logins, "LOGINS_PER_SERVER", 1)
    monkeypatch.setattr(logins, "_servers", {})
    with logins.login_slot(_imap("mail.example.com"), never) as first:
        assert first
        with logins.login_slot(_imap("MAIL.example.com"), lambda: True) as same_server:
            assert not same_server
        with logins.login_slot(_imap("mail.example.com", 143), never) as other_port:
            assert other_port
        with logins.login_slot(_imap("imap.example.org"), never) as other_server:
            assert other_server


def test_mailboxes_without_a_server_name_take_no_login_slot(monkeypatch):
    monkeypatch.setattr(logins, "LOGINS_PER_SERVER", 1)
    graph = InboundConfig(protocol="graph")
    with logins.login_slot(graph, never) as first, logins.login_slot(graph, lambda: True) as second:
        assert first and second


def _account(user: str, host: str = "mail.example.com", **inbound) -> InboundConfig:
    return InboundConfig(protocol="imap", host=host, port=993, username=user, **inbound)


def test_sessions_of_one_account_share_the_servers_cap_and_the_waiter_says_why(monkeypatch):
    monkeypatch.setattr(logins, "_accounts", {})
    said: list[str] = []
    with logins.session_slot(_account("ann", max_sessions=1), never, said.append) as first:
        assert first and said == []
        with logins.session_slot(
            _account("ANN", max_sessions=1), lambda: True, said.append
        ) as same_account:
            assert not same_account
        with logins.session_slot(_account("bob", max_sessions=1), never, said.append) as other:
            assert other
    assert said == [
        "waiting for a session: 1 of this worker's sessions to ann@mail.example.com:993 are "
        "open, the server's limit (max_sessions 1)"
    ]


def test_the_session_cap_is_what_the_server_allows_unless_the_mailbox_says():
    assert logins.session_cap(_account("ann", "imap.gmail.com")) == 15
    assert logins.session_cap(_account("ann", "imap.example.com")) == 10
    pop3 = InboundConfig(protocol="pop3", host="pop.example.com", username="ann")
    assert logins.session_cap(pop3) == 1
    assert logins.session_cap(_account("ann", "imap.gmail.com", max_sessions=3)) == 3
