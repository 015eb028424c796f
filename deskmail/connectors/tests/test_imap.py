"""The IMAP connector against Dovecot."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from deskmail.connectors.base import Cursor, Fetch, RawMessage, SourcePosition
from deskmail.connectors.credentials import BearerToken, Password
from deskmail.connectors.errors import ConnectorError
from deskmail.connectors.imap import ImapConnector, ImapCursor, take_announced_exists
from deskmail.connectors.tests.helpers import TokenOnDemand, inbound, message
from deskmail.testing.mailservers import PLAINTEXT_HOST, MailAccount, MailServers

pytestmark = pytest.mark.servers


def fetch_all(
    connector: ImapConnector, cursor: Cursor | None = None
) -> tuple[list[RawMessage], Cursor, Fetch]:
    """Every message on offer after the cursor, the cursor past them all, and the fetch."""
    fetch = connector.fetch(cursor or {})
    messages, last = [], cursor or {}
    for batch in fetch.batches:
        messages += batch.messages
        last = batch.cursor
    return messages, last, fetch


def uids(connector: ImapConnector, cursor: Cursor | None = None) -> list[str]:
    return [m.position.uid for m in fetch_all(connector, cursor)[0]]


def ack(connector: ImapConnector, positions: list[SourcePosition]) -> Cursor:
    """Acknowledge these stored messages, as the sync does after its commit."""
    validity = positions[0].uidvalidity if positions else None
    stored = tuple(int(p.uid) for p in positions)
    return connector.acknowledge(ImapCursor(validity, max(stored, default=0), stored).to_json())


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_it_fetches_the_exact_bytes_over_each_security(
    mail_servers: MailServers, mail_account: MailAccount, security: str
) -> None:
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, security=security)
    with ImapConnector(
        config, Password(mail_account.password), ca_file=mail_servers.cafile
    ) as imap:
        fetched, cursor, result = fetch_all(imap)
    assert [m.raw for m in fetched] == [message(1)]
    position = fetched[0].position
    assert (position.kind, position.folder, position.uid) == ("imap", "INBOX", "1")
    assert position.uidvalidity == cursor["uidvalidity"] and cursor["uidvalidity"]
    assert cursor == {"uidvalidity": position.uidvalidity, "last_uid": 1, "unacked": [1]}
    assert fetched[0].arrived_at is not None and fetched[0].arrived_at.tzinfo is not None
    assert not result.resync


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_it_refuses_a_certificate_it_cannot_verify(
    mail_servers: MailServers, mail_account: MailAccount, security: str
) -> None:
    config = inbound(mail_servers, mail_account, security=security)
    with pytest.raises(ConnectorError) as error:
        ImapConnector(config, Password(mail_account.password)).open()
    assert error.value.permanent and not error.value.auth
    assert "certificate" in error.value.message
    assert error.value.server_reply == "self-signed certificate"


def test_it_never_falls_back_to_plain_text_when_starttls_is_missing(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, security="starttls")
    config = config.model_copy(update={"host": PLAINTEXT_HOST})
    with pytest.raises(ConnectorError) as error:
        ImapConnector(config, Password(mail_account.password)).open()
    assert error.value.permanent
    assert "does not offer STARTTLS" in error.value.message


def test_it_accepts_a_self_signed_certificate_when_verification_is_off(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, security="ssl", verify_certificate=False)
    with ImapConnector(config, Password(mail_account.password)) as imap:
        assert imap.count_messages() == 0


def test_it_shows_dovecots_words_for_a_wrong_password(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    with pytest.raises(ConnectorError) as error:
        ImapConnector(inbound(mail_servers, mail_account), Password("wrong")).open()
    assert error.value.auth and error.value.permanent
    assert error.value.server_reply == "[AUTHENTICATIONFAILED] Authentication failed."
    assert "Re-enter the password" in error.value.message


def test_it_logs_in_with_an_xoauth2_token(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, auth="oauth2")
    asked = []

    def token() -> str:
        asked.append(True)
        return mail_servers.issue_token(mail_account.address)

    with ImapConnector(config, TokenOnDemand(token)) as imap:
        assert imap.count_messages() == 1
    assert asked == [True]


def test_it_asks_to_reauthorize_when_the_token_has_expired(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    expired = mail_servers.issue_token(mail_account.address, expires_in=-60)
    config = inbound(mail_servers, mail_account, auth="oauth2")
    with pytest.raises(ConnectorError) as error:
        ImapConnector(config, BearerToken(expired)).open()
    assert error.value.auth and error.value.permanent
    assert "AUTHENTICATIONFAILED" in (error.value.server_reply or "")
    assert "Reauthorize" in error.value.message


def test_it_gives_up_on_a_login_that_takes_longer_than_the_auth_timeout(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    token = mail_servers.issue_token(mail_account.address)
    config = inbound(mail_servers, mail_account, auth="oauth2", auth_timeout_s=0.2)
    mail_servers.tokens.introspection_delay = 1
    try:
        with pytest.raises(ConnectorError) as error:
            ImapConnector(config, BearerToken(token)).open()
    finally:
        mail_servers.tokens.introspection_delay = 0
    assert not error.value.permanent and not error.value.auth
    assert "Logging in" in error.value.message and "no answer within 0.2 s" in error.value.message


def test_it_calls_a_refused_connection_temporary(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account).model_copy(update={"port": _closed_port()})
    with pytest.raises(ConnectorError) as error:
        ImapConnector(config, Password(mail_account.password)).open()
    assert not error.value.permanent
    assert "refused" in error.value.message


def test_it_calls_a_missing_folder_permanent(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    config = inbound(mail_servers, mail_account, folder="Nowhere")
    with (
        ImapConnector(config, Password(mail_account.password)) as imap,
        pytest.raises(ConnectorError) as error,
    ):
        imap.fetch({})
    assert error.value.permanent
    assert "doesn't exist" in (error.value.server_reply or "")


def test_it_lists_folders_and_counts_messages(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1), folder="Tickets")
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        assert {"INBOX", "Sent", "Trash", "Tickets"} <= set(imap.list_folders())
        assert imap.count_messages("Tickets") == 1
        assert imap.count_messages() == 0


def test_it_fetches_the_configured_folder(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2), folder="Support")
    config = inbound(mail_servers, mail_account, folder="Support")
    with ImapConnector(config, Password(mail_account.password)) as imap:
        fetched, _, _ = fetch_all(imap)
    assert [m.raw for m in fetched] == [message(2)]
    assert fetched[0].position.folder == "Support"


def test_it_fetches_only_uids_after_the_checkpoint(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    for n in range(1, 4):
        mail_servers.append(mail_account, message(n))
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        first, cursor, _ = fetch_all(imap)
        two = ImapCursor(cursor["uidvalidity"], 2).to_json()
        assert [m.raw for m in fetch_all(imap, two)[0]] == [message(3)]
        assert uids(imap, cursor) == []
        mail_servers.append(mail_account, message(4))
        assert uids(imap, cursor) == ["4"]


@pytest.mark.parametrize(("batch_size", "batch_bytes"), [(2, 10**6), (500, 1)])
def test_it_fetches_in_batches_in_uid_order(
    mail_servers: MailServers, mail_account: MailAccount, batch_size: int, batch_bytes: int
) -> None:
    for n in range(1, 6):
        mail_servers.append(mail_account, message(n))
    config = inbound(mail_servers, mail_account)
    connector = ImapConnector(
        config, Password(mail_account.password), batch_size=batch_size, batch_bytes=batch_bytes
    )
    with connector as imap:
        result = imap.fetch({})
        batches = list(result.batches)
        assert result.total == 5
        assert [m.raw for b in batches for m in b.messages] == [message(n) for n in range(1, 6)]
        # Each batch carries the cursor past it, to be stored in the same commit.
        assert [b.cursor["last_uid"] for b in batches] == [
            int(b.messages[-1].position.uid) for b in batches
        ]
        assert len(batches) > 1


def test_it_reports_a_uidvalidity_change_and_offers_everything_again(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    for n in range(1, 3):
        mail_servers.append(mail_account, message(n))
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        _, cursor, _ = fetch_all(imap)
    mail_servers.set_uidvalidity(mail_account, 4242)
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        again, renumbered, fetch = fetch_all(imap, cursor)
        assert fetch.resync and renumbered["uidvalidity"] == 4242 != cursor["uidvalidity"]
        assert [m.raw for m in again] == [message(1), message(2)]
        after, _, fetch = fetch_all(imap, ImapCursor(4242, 2).to_json())
        assert not fetch.resync and after == []


def test_it_fetches_only_mail_received_since_sync_since_on_first_sync(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    old = dt.datetime(2020, 5, 1, 12, 0, tzinfo=dt.UTC)
    with mail_servers.imap(mail_account) as client:
        client.append("INBOX", message(1), msg_time=old)
    mail_servers.append(mail_account, message(2))
    config = inbound(mail_servers, mail_account, sync_since=dt.date(2026, 1, 1))
    with ImapConnector(config, Password(mail_account.password)) as imap:
        assert [m.raw for m in fetch_all(imap)[0]] == [message(2)]


def test_it_marks_mail_seen_only_on_ack(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2))
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        fetched, _, _ = fetch_all(imap)
        assert mail_servers.flags(mail_account) == {1: set(), 2: set()}
        done = ack(imap, [fetched[0].position])
    assert mail_servers.flags(mail_account) == {1: {"\\Seen"}, 2: set()}
    assert done["unacked"] == [] and done["last_uid"] == 1


def test_it_leaves_mail_untouched(mail_servers: MailServers, mail_account: MailAccount) -> None:
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, after_fetch="leave")
    with ImapConnector(config, Password(mail_account.password)) as imap:
        ack(imap, [m.position for m in fetch_all(imap)[0]])
    assert mail_servers.flags(mail_account) == {1: set()}


def test_it_deletes_and_expunges_only_acked_mail(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2), flags=["\\Deleted"])
    mail_servers.append(mail_account, message(3))
    config = inbound(mail_servers, mail_account, after_fetch="delete")
    with ImapConnector(config, Password(mail_account.password)) as imap:
        fetched, _, _ = fetch_all(imap)
        ack(imap, [fetched[0].position])
    # UID EXPUNGE: a message someone else flagged \Deleted stays.
    assert mail_servers.read_mailbox(mail_account) == [message(2), message(3)]


def test_it_moves_acked_mail_to_a_folder_it_creates(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    mail_servers.append(mail_account, message(2))
    config = inbound(mail_servers, mail_account, after_fetch="move:Processed/Done")
    with ImapConnector(config, Password(mail_account.password)) as imap:
        ack(imap, [fetch_all(imap)[0][0].position])
    assert mail_servers.read_mailbox(mail_account) == [message(2)]
    assert mail_servers.read_mailbox(mail_account, "Processed/Done") == [message(1)]


def test_it_ignores_acks_from_before_a_uidvalidity_change(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        stale = fetch_all(imap)[0][0].position
    mail_servers.set_uidvalidity(mail_account, 777)
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        assert ack(imap, [stale])["unacked"] == []
    assert mail_servers.flags(mail_account) == {1: set()}


def test_it_starts_a_new_session_after_the_server_restarted(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1))
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        fetched, _, _ = fetch_all(imap)
        mail_servers.restart_dovecot()
        with pytest.raises(ConnectorError) as error:
            ack(imap, [fetched[0].position])
        assert not error.value.permanent
        ack(imap, [fetched[0].position])
    assert mail_servers.flags(mail_account) == {1: {"\\Seen"}}


@pytest.mark.parametrize(("duplicate_check", "fetched_again"), [(True, []), (False, ["1"])])
def test_it_fetches_mail_marked_unread_again_only_without_duplicate_check(
    mail_servers: MailServers,
    mail_account: MailAccount,
    duplicate_check: bool,
    fetched_again: list[str],
) -> None:
    mail_servers.append(mail_account, message(1))
    config = inbound(mail_servers, mail_account, duplicate_check=duplicate_check)
    with ImapConnector(config, Password(mail_account.password)) as imap:
        first, cursor, _ = fetch_all(imap)
        ack(imap, [m.position for m in first])
        assert uids(imap, cursor) == []
        with mail_servers.imap(mail_account) as client:
            client.select_folder("INBOX")
            client.remove_flags([1], ["\\Seen"])
        assert uids(imap, cursor) == fetched_again


def test_it_fetches_only_mail_matching_the_header_filter(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, message(1, "X-Antivirus-Report: SAFE"))
    mail_servers.append(mail_account, message(2, "X-Antivirus-Report: UNSAFE"))
    mail_servers.append(mail_account, message(3, "X-Antivirus-Report: safe"))
    mail_servers.append(mail_account, message(4))
    mail_servers.append(mail_account, message(5, "X-Antivirus-Report: SAFE"), flags=["\\Seen"])
    filtered = inbound(mail_servers, mail_account, header_filter="x-antivirus-report=SAFE")
    present = inbound(mail_servers, mail_account, header_filter="X-ANTIVIRUS-REPORT")
    with ImapConnector(filtered, Password(mail_account.password)) as imap:
        fetched, cursor, result = fetch_all(imap)
        assert [m.position.uid for m in fetched] == ["1"]
        # The server's search ignores case and matches substrings; the exact check does not.
        assert [p.uid for p in result.skipped] == ["2", "3"]
        # The refused ones are stepped over, never acknowledged.
        assert (cursor["last_uid"], cursor["unacked"]) == (3, [1])
        assert uids(imap, cursor) == []
    with ImapConnector(present, Password(mail_account.password)) as imap:
        assert uids(imap) == ["1", "2", "3"]


def test_it_notices_an_append_while_idle(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        assert imap.can_wait()
        assert uids(imap) == []
        assert imap.wait_for_new_mail(0.2) is False
        appender = threading.Timer(0.2, mail_servers.append, (mail_account, message(1)))
        appender.start()
        try:
            assert imap.wait_for_new_mail(30) is True
        finally:
            appender.join()
        assert uids(imap) == ["1"]


def test_it_returns_at_once_for_mail_that_came_before_the_wait(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        assert uids(imap) == []
        mail_servers.append(mail_account, message(1))
        # No EXISTS comes during the IDLE for it: only the check before the wait sees it.
        assert imap.wait_for_new_mail(0.5) is True


def test_it_polls_for_new_mail_where_the_server_has_no_idle(
    mail_servers: MailServers, mail_account: MailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        assert uids(imap) == []
        monkeypatch.setattr(imap, "can_wait", lambda: False)
        appender = threading.Timer(0.2, mail_servers.append, (mail_account, message(1)))
        appender.start()
        try:
            assert imap.wait_for_new_mail(30, poll_every=0.1) is True
        finally:
            appender.join()


@pytest.mark.parametrize("idle", [True, False])
def test_it_stops_waiting_when_asked(
    mail_servers: MailServers,
    mail_account: MailAccount,
    monkeypatch: pytest.MonkeyPatch,
    idle: bool,
) -> None:
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) >= 2

    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        monkeypatch.setattr(imap, "can_wait", lambda: idle)
        assert imap.wait_for_new_mail(60, stop=stop) is False
        assert len(asked) == 2
        assert imap.count_messages() == 0  # the session is still usable


def test_it_never_shows_the_secret(mail_servers: MailServers, mail_account: MailAccount) -> None:
    imap = ImapConnector(inbound(mail_servers, mail_account), Password("s3cret-pw"))
    assert "s3cret-pw" not in repr(imap)
    assert mail_account.address in repr(imap)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_still_notices_mail_whose_exists_notice_was_lost(
    mail_servers: MailServers, mail_account: MailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if every EXISTS slipped between two commands: the periodic re-check finds it.
    monkeypatch.setattr("deskmail.connectors.imap._is_exists", lambda response: False)
    monkeypatch.setattr("deskmail.connectors.imap.IDLE_RECHECK_S", 0.5)
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        assert uids(imap) == []
        appender = threading.Timer(0.2, mail_servers.append, (mail_account, message(1)))
        appender.start()
        try:
            assert imap.wait_for_new_mail(30) is True
        finally:
            appender.join()


def test_imaplib_still_keeps_announcements_where_we_read_them(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    """take_announced_exists reads imaplib's untagged_responses: this breaks if that goes."""
    with ImapConnector(
        inbound(mail_servers, mail_account), Password(mail_account.password)
    ) as imap:
        client = imap.client()
        client.select_folder("INBOX")
        assert isinstance(client._imap.untagged_responses, dict)
        take_announced_exists(client)
        mail_servers.append(mail_account, message(1))
        client.noop()
        client._imap.untagged_responses.setdefault("EXISTS", [b"1"])  # as a SEARCH leaves it
        assert take_announced_exists(client) is True
        assert take_announced_exists(client) is False
