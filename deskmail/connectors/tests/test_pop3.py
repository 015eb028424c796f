"""The POP3 connector against Dovecot."""

from __future__ import annotations

import pytest

from deskmail.connectors.base import Checkpoint
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.pop3 import Pop3Connector
from deskmail.connectors.tests.helpers import inbound, message
from deskmail.testing.mailservers import PLAINTEXT_HOST, MailAccount, MailServers

pytestmark = pytest.mark.servers


def pop3(servers: MailServers, account: MailAccount, **overrides: object) -> Pop3Connector:
    config = inbound(servers, account, "pop3", **overrides)  # type: ignore[arg-type]
    return Pop3Connector(config, account.password, ca_file=servers.cafile)


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_it_fetches_the_exact_bytes_over_each_security(
    mail_servers: MailServers, mail_account: MailAccount, security: str
) -> None:
    mail_servers.append(mail_account, message(1))
    with pop3(mail_servers, mail_account, security=security) as connector:
        fetched = list(connector.fetch(Checkpoint()))
    assert [m.raw for m in fetched] == [message(1)]
    assert fetched[0].position.kind == "pop3" and fetched[0].position.uidvalidity is None


def test_it_keeps_lines_longer_than_poplib_allows(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    raw = message(1, "X-Long: " + "x" * 5000)
    mail_servers.append(mail_account, raw)
    with pop3(mail_servers, mail_account) as connector:
        assert [m.raw for m in connector.fetch(Checkpoint())] == [raw]


def test_it_refuses_a_certificate_it_cannot_verify(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, "pop3", security="ssl")
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, mail_account.password).open()
    assert error.value.permanent and "certificate" in error.value.message


def test_it_never_falls_back_to_plain_text_when_stls_is_missing(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, "pop3", security="starttls")
    config = config.model_copy(update={"host": PLAINTEXT_HOST})
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, mail_account.password).open()
    assert error.value.permanent
    assert "does not offer STLS" in error.value.message


def test_it_fetches_nothing_twice_by_uidl(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2))
    with pop3(mail_servers, mail_account) as connector:
        first = connector.fetch(Checkpoint())
        stored = list(first)
        assert first.server_uids == {m.position.uid for m in stored}
    checkpoint = Checkpoint().advanced(m.position for m in stored)
    mail_servers.append(mail_account, message(3))
    with pop3(mail_servers, mail_account) as connector:
        assert [m.raw for m in connector.fetch(checkpoint)] == [message(3)]


def test_it_leaves_mail_on_the_server_by_default(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    with pop3(mail_servers, mail_account) as connector:
        connector.ack([m.position for m in connector.fetch(Checkpoint())])
    assert mail_servers.read_mailbox(mail_account) == [message(1)]


def test_it_deletes_only_acked_mail_and_only_on_ack(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2))
    with pop3(mail_servers, mail_account, after_fetch="delete") as connector:
        fetched = list(connector.fetch(Checkpoint()))
    assert len(mail_servers.read_mailbox(mail_account)) == 2  # closed without ack: kept
    with pop3(mail_servers, mail_account, after_fetch="delete") as connector:
        fetched = list(connector.fetch(Checkpoint()))
        connector.ack([fetched[0].position])
    assert mail_servers.read_mailbox(mail_account) == [message(2)]


def test_it_refuses_to_move_mail(mail_servers: MailServers, mail_account: MailAccount) -> None:
    with pytest.raises(ConnectorError) as error:
        pop3(mail_servers, mail_account, after_fetch="move:Done").open()
    assert error.value.permanent and "no folders" in error.value.message


def test_it_shows_dovecots_words_for_a_wrong_password(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, "pop3")
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, "wrong").open()
    assert error.value.auth and error.value.permanent
    assert error.value.server_reply == "[AUTH] Authentication failed."
    assert "Re-enter the password" in error.value.message


def test_it_logs_in_with_xoauth2_and_refuses_an_expired_token(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, "pop3", auth="oauth2")
    token = mail_servers.issue_token(mail_account.address)
    with Pop3Connector(config, lambda: token) as connector:
        assert connector.count_messages() == 1
    expired = mail_servers.issue_token(mail_account.address, expires_in=-1)
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, lambda: expired).open()
    assert error.value.auth and "Reauthorize" in error.value.message


def test_it_never_shows_the_secret(mail_servers: MailServers, mail_account: MailAccount) -> None:
    connector = Pop3Connector(inbound(mail_servers, mail_account, "pop3"), "s3cret-pw")
    assert "s3cret-pw" not in repr(connector)
