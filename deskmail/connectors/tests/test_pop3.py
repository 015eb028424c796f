"""The POP3 connector against Dovecot."""

from __future__ import annotations

import pytest

from deskmail.connectors.base import Cursor, RawMessage
from deskmail.connectors.credentials import BearerToken, Password
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.pop3 import Pop3Connector, Pop3Cursor, _Client
from deskmail.connectors.tests.helpers import inbound, message
from deskmail.testing.mailservers import PLAINTEXT_HOST, MailAccount, MailServers

pytestmark = pytest.mark.servers


def pop3(servers: MailServers, account: MailAccount, **overrides: object) -> Pop3Connector:
    config = inbound(servers, account, "pop3", **overrides)  # type: ignore[arg-type]
    return Pop3Connector(config, Password(account.password), ca_file=servers.cafile)


def fetch_all(
    connector: Pop3Connector, cursor: Cursor | None = None
) -> tuple[list[RawMessage], Cursor]:
    """Every message on offer after the cursor, and the cursor past them all."""
    messages, last = [], cursor or {}
    for batch in connector.fetch(cursor or {}).batches:
        messages += batch.messages
        last = batch.cursor
    return messages, last


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_it_fetches_the_exact_bytes_over_each_security(
    mail_servers: MailServers, mail_account: MailAccount, security: str
) -> None:
    mail_servers.append(mail_account, message(1))
    with pop3(mail_servers, mail_account, security=security) as connector:
        fetched, _ = fetch_all(connector)
    assert [m.raw for m in fetched] == [message(1)]
    assert fetched[0].position.kind == "pop3" and fetched[0].position.uidvalidity is None


def test_it_keeps_lines_longer_than_poplib_allows(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    raw = message(1, "X-Long: " + "x" * 5000)
    mail_servers.append(mail_account, raw)
    with pop3(mail_servers, mail_account) as connector:
        assert [m.raw for m in fetch_all(connector)[0]] == [raw]


def test_it_refuses_a_certificate_it_cannot_verify(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, "pop3", security="ssl")
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, Password(mail_account.password)).open()
    assert error.value.permanent and "certificate" in error.value.message


def test_it_never_falls_back_to_plain_text_when_stls_is_missing(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, "pop3", security="starttls")
    config = config.model_copy(update={"host": PLAINTEXT_HOST})
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, Password(mail_account.password)).open()
    assert error.value.permanent
    assert "does not offer STLS" in error.value.message


def test_it_fetches_nothing_twice_by_uidl(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2))
    with pop3(mail_servers, mail_account) as connector:
        stored, cursor = fetch_all(connector)
        assert set(cursor["seen"]) == {m.position.uid for m in stored}
        assert cursor["unacked"] == []  # mail stays on the server: nothing to acknowledge
    mail_servers.append(mail_account, message(3))
    with pop3(mail_servers, mail_account) as connector:
        assert [m.raw for m in fetch_all(connector, cursor)[0]] == [message(3)]


def test_it_leaves_mail_on_the_server_by_default(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    with pop3(mail_servers, mail_account) as connector:
        connector.acknowledge(fetch_all(connector)[1])
    assert mail_servers.read_mailbox(mail_account) == [message(1)]


def test_it_deletes_only_acked_mail_and_only_on_ack(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2))
    with pop3(mail_servers, mail_account, after_fetch="delete") as connector:
        fetched, cursor = fetch_all(connector)
    assert len(mail_servers.read_mailbox(mail_account)) == 2  # closed without ack: kept
    first = fetched[0].position.uid
    with pop3(mail_servers, mail_account, after_fetch="delete") as connector:
        # Only what the cursor lists as stored and not yet deleted goes.
        done = connector.acknowledge(Pop3Cursor(frozenset(cursor["seen"]), (first,)).to_json())
    assert mail_servers.read_mailbox(mail_account) == [message(2)]
    assert done["unacked"] == []


def test_it_deletes_at_the_next_session_what_a_dead_one_stored_but_did_not_delete(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    with pop3(mail_servers, mail_account, after_fetch="delete") as connector:
        _, cursor = fetch_all(connector)  # stored, then the session died before DELE
    assert cursor["unacked"] and len(mail_servers.read_mailbox(mail_account)) == 1
    with pop3(mail_servers, mail_account, after_fetch="delete") as connector:
        cursor = connector.acknowledge(cursor)
        assert fetch_all(connector, cursor)[0] == []
    assert mail_servers.read_mailbox(mail_account) == []


def test_it_refuses_to_move_mail(mail_servers: MailServers, mail_account: MailAccount) -> None:
    with pytest.raises(ConnectorError) as error:
        pop3(mail_servers, mail_account, after_fetch="move:Done").open()
    assert error.value.permanent and "no folders" in error.value.message


def test_it_shows_dovecots_words_for_a_wrong_password(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, "pop3")
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, Password("wrong")).open()
    assert error.value.auth and error.value.permanent
    assert error.value.server_reply == "[AUTH] Authentication failed."
    assert "Re-enter the password" in error.value.message


def test_it_logs_in_with_xoauth2_and_refuses_an_expired_token(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, "pop3", auth="oauth2")
    token = mail_servers.issue_token(mail_account.address)
    with Pop3Connector(config, BearerToken(token)) as connector:
        assert connector.count_messages() == 1
    expired = mail_servers.issue_token(mail_account.address, expires_in=-1)
    with pytest.raises(ConnectorError) as error:
        Pop3Connector(config, BearerToken(expired)).open()
    assert error.value.auth and "Reauthorize" in error.value.message


def test_it_never_shows_the_secret(mail_servers: MailServers, mail_account: MailAccount) -> None:
    connector = Pop3Connector(inbound(mail_servers, mail_account, "pop3"), Password("s3cret-pw"))
    assert "s3cret-pw" not in repr(connector)


def test_poplib_still_has_what_the_client_reaches_into() -> None:
    """The one wrapper around poplib's internals (long lines, AUTH XOAUTH2) relies on these."""
    import inspect
    import poplib

    for name in ("_getline", "_shortcmd", "_putcmd", "_getresp"):
        assert callable(getattr(poplib.POP3, name, None)), name
    assert list(inspect.signature(poplib.POP3._shortcmd).parameters) == ["self", "line"]
    assert list(inspect.signature(poplib.POP3._putcmd).parameters) == ["self", "line"]
    assert issubclass(_Client, object) and hasattr(_Client, "auth_xoauth2")
