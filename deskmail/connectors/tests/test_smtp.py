"""The SMTP connector against Postfix, delivering into Dovecot."""

from __future__ import annotations

import time

import pytest

from deskmail.connectors.credentials import BearerToken, Password
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.smtp import SmtpConnector
from deskmail.connectors.tests.helpers import message, outbound
from deskmail.testing.mailservers import PLAINTEXT_HOST, MailAccount, MailServers

pytestmark = pytest.mark.servers


@pytest.fixture(autouse=True)
def _needs_postfix(mail_servers: MailServers) -> None:
    if not mail_servers.postfix:
        pytest.skip("Postfix runs only as root")


def delivered(servers: MailServers, account: MailAccount, count: int = 1) -> list[bytes]:
    """The account's INBOX once count messages are in it (delivery is asynchronous)."""
    for _ in range(200):
        found = servers.read_mailbox(account)
        if len(found) >= count:
            return found
        time.sleep(0.025)
    return servers.read_mailbox(account)


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_it_sends_mail_that_lands_in_the_recipients_mailbox(
    mail_servers: MailServers, mail_account: MailAccount, security: str
) -> None:
    customer = mail_servers.new_account()
    config = outbound(mail_servers, mail_account, security=security)
    with SmtpConnector(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    ) as smtp:
        assert smtp.send(mail_account.address, [customer.address], message(1)) == {}
    [received] = delivered(mail_servers, customer)
    assert b"Message-ID: <1@customer.test>\r\n" in received
    assert received.endswith(b"\r\n\r\nBody of message 1.\r\n")
    assert f"Return-Path: <{mail_account.address}>".encode() in received


def test_it_sends_several_mails_on_one_connection(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    customer = mail_servers.new_account()
    config = outbound(mail_servers, mail_account)
    with SmtpConnector(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    ) as smtp:
        for n in (1, 2):
            smtp.send(mail_account.address, [customer.address], message(n))
    assert len(delivered(mail_servers, customer, 2)) == 2


def test_it_logs_in_with_an_xoauth2_token(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = outbound(mail_servers, mail_account, auth="oauth2")
    token = mail_servers.issue_token(mail_account.address)
    SmtpConnector(config, BearerToken(token), ca_file=mail_servers.cafile).check_login()


def test_it_asks_to_reauthorize_when_the_token_has_expired(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = outbound(mail_servers, mail_account, auth="oauth2")
    expired = mail_servers.issue_token(mail_account.address, expires_in=-1)
    with pytest.raises(ConnectorError) as error:
        SmtpConnector(config, BearerToken(expired), ca_file=mail_servers.cafile).check_login()
    assert error.value.auth and error.value.permanent
    assert (error.value.server_reply or "").startswith("535 ")
    assert "Reauthorize" in error.value.message


def test_it_shows_the_servers_words_for_a_wrong_password(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = outbound(mail_servers, mail_account)
    with pytest.raises(ConnectorError) as error:
        SmtpConnector(config, Password("wrong"), ca_file=mail_servers.cafile).check_login()
    assert error.value.auth and error.value.permanent
    assert (error.value.server_reply or "").startswith("535 5.7.8 Error: authentication failed")
    assert "Re-enter the password" in error.value.message


def test_it_refuses_a_certificate_it_cannot_verify(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    with pytest.raises(ConnectorError) as error:
        SmtpConnector(
            outbound(mail_servers, mail_account, security="ssl"), Password("x")
        ).check_login()
    assert error.value.permanent and "certificate" in error.value.message


def test_it_never_falls_back_to_plain_text_when_starttls_is_missing(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = outbound(mail_servers, mail_account, security="none")
    config = config.model_copy(update={"host": PLAINTEXT_HOST, "security": "starttls"})
    with pytest.raises(ConnectorError) as error:
        SmtpConnector(config, Password(mail_account.password)).check_login()
    assert error.value.permanent
    assert "does not offer STARTTLS" in error.value.message


def test_it_calls_a_5xx_refusal_permanent(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = outbound(mail_servers, mail_account)
    with SmtpConnector(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    ) as smtp:
        with pytest.raises(ConnectorError) as error:
            smtp.send(mail_account.address, ["someone@elsewhere.example"], message(1))
    assert error.value.permanent and not error.value.auth
    assert "550 5.7.1" in (error.value.server_reply or "")
    assert "external delivery disabled" in error.value.message


def test_it_calls_a_4xx_refusal_temporary(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = outbound(mail_servers, mail_account)
    with SmtpConnector(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    ) as smtp:
        with pytest.raises(ConnectorError) as error:
            smtp.send(mail_account.address, ["someone@tempfail.test"], message(1))
    assert not error.value.permanent
    assert "451 4.3.0" in (error.value.server_reply or "")


def test_it_returns_the_recipients_refused_when_others_got_the_mail(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    customer = mail_servers.new_account()
    config = outbound(mail_servers, mail_account)
    with SmtpConnector(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    ) as smtp:
        refused = smtp.send(
            mail_account.address, [customer.address, "someone@elsewhere.example"], message(1)
        )
    assert list(refused) == ["someone@elsewhere.example"]
    assert refused["someone@elsewhere.example"][0] == 550
    assert len(delivered(mail_servers, customer)) == 1


def test_it_calls_a_stopped_server_temporary(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = outbound(mail_servers, mail_account)
    mail_servers.stop_postfix()
    try:
        with pytest.raises(ConnectorError) as error:
            SmtpConnector(
                config, Password(mail_account.password), ca_file=mail_servers.cafile
            ).send(mail_account.address, [mail_account.address], message(1))
    finally:
        mail_servers.start_postfix()
    assert not error.value.permanent
    assert "refused" in error.value.message


def test_it_reconnects_when_a_kept_connection_was_closed(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    customer = mail_servers.new_account()
    config = outbound(mail_servers, mail_account)
    with SmtpConnector(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    ) as smtp:
        smtp.send(mail_account.address, [customer.address], message(1))
        mail_servers.stop_postfix()
        mail_servers.start_postfix()
        smtp.send(mail_account.address, [customer.address], message(2))
    assert len(delivered(mail_servers, customer, 2)) == 2


def test_it_never_shows_the_secret(mail_servers: MailServers, mail_account: MailAccount) -> None:
    assert "s3cret" not in repr(
        SmtpConnector(outbound(mail_servers, mail_account), Password("s3cret"))
    )
