"""Testing a mailbox's connection, step by step, against the real servers."""

from __future__ import annotations

import pytest

from deskmail.connectors import testconn
from deskmail.connectors.credentials import Password
from deskmail.connectors.tests.helpers import inbound, message, outbound
from deskmail.testing.mailservers import MailAccount, MailServers

pytestmark = pytest.mark.servers


def verdicts(steps: list[testconn.Step]) -> list[tuple[str, bool]]:
    return [(step.name.split(" ")[0], step.ok) for step in steps]


def test_it_walks_every_imap_step_when_all_is_well(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, security="ssl")
    steps = testconn.test_inbound(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    )
    assert verdicts(steps) == [("connect", True), ("log", True), ("list", True), ("count", True)]
    assert "INBOX" in steps[2].detail
    assert steps[3].detail == "1 messages"


def test_it_stops_at_a_refused_login_with_the_servers_words(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account)
    steps = testconn.test_inbound(config, Password("wrong"))
    assert verdicts(steps) == [("connect", True), ("log", False)]
    assert steps[1].server_reply == "[AUTHENTICATIONFAILED] Authentication failed."
    assert "Re-enter the password" in steps[1].detail


def test_it_says_when_the_certificate_cannot_be_verified(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    steps = testconn.test_inbound(
        inbound(mail_servers, mail_account, security="ssl"), Password("x")
    )
    assert verdicts(steps) == [("connect", False)]
    assert "certificate" in steps[0].detail


def test_it_names_the_folders_there_are_when_the_configured_one_is_missing(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, folder="Support")
    steps = testconn.test_inbound(config, Password(mail_account.password))
    assert verdicts(steps)[-1] == ("list", False)
    assert "'Support' does not exist" in steps[-1].detail and "INBOX" in steps[-1].detail


def test_it_counts_pop3_messages(mail_servers: MailServers, mail_account: MailAccount) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2))
    config = inbound(mail_servers, mail_account, "pop3", security="starttls")
    steps = testconn.test_inbound(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    )
    assert verdicts(steps) == [("connect", True), ("log", True), ("count", True)]
    assert steps[-1].detail == "2 messages"


def test_it_tries_the_smtp_login(mail_servers: MailServers, mail_account: MailAccount) -> None:
    if not mail_servers.postfix:
        pytest.skip("Postfix runs only as root")
    config = outbound(mail_servers, mail_account)
    good = testconn.test_outbound(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    )
    bad = testconn.test_outbound(config, Password("wrong"), ca_file=mail_servers.cafile)
    assert verdicts(good) == [("connect", True), ("log", True)]
    assert verdicts(bad) == [("connect", True), ("log", False)]
    assert (bad[1].server_reply or "").startswith("535")
