"""The fake EWS endpoint, driven by exchangelib the way the EWS connector will drive Exchange."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    Account,
    Build,
    Configuration,
    Credentials,
    Message,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorExpiredSubscription,
    ErrorInvalidSyncStateData,
    ErrorInvalidWatermark,
    ErrorSendAsDenied,
    ErrorServerBusy,
    UnauthorizedError,
)
from exchangelib.properties import MovedEvent, NewMailEvent, StatusEvent

from deskmail.testing.ewsserver import EwsServer

SUPPORT = "support@helpdesk.test"
CUSTOMER = "customer@helpdesk.test"


def mime(subject: str, sender: str = "Ann <ann@example.test>", to: str = SUPPORT) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.test>\r\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nHello.\r\n"
    ).encode()


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    with EwsServer(mailbox=SUPPORT, username="agent", password="Secret-1") as server:
        yield server


def connect(
    ews: EwsServer,
    address: str = SUPPORT,
    username: str = "agent",
    password: str = "Secret-1",  # noqa: S107 (the fake's test account)
    auth_type: str = BASIC,
) -> Account:
    config = Configuration(
        service_endpoint=ews.url,
        credentials=Credentials(username, password),
        auth_type=auth_type,
        version=Version(build=Build(15, 1)),
    )
    return Account(address, config=config, autodiscover=False, access_type=DELEGATE)


@pytest.fixture
def account(ews: EwsServer) -> Iterator[Account]:
    connected = connect(ews)
    yield connected
    connected.protocol.close()


def test_it_finds_the_inbox_and_lists_the_folders(ews: EwsServer, account: Account) -> None:
    ews.add_folder("Done")
    ews.deliver(mime("Waiting"))
    assert account.inbox.name == "Inbox"
    assert account.inbox.total_count == 1 and account.inbox.unread_count == 1
    names = {folder.name for folder in account.msg_folder_root.children}
    assert {"Inbox", "Sent Items", "Deleted Items", "Done"} <= names
    assert "GetFolder" in ews.requests and "FindFolder" in ews.requests


def test_it_syncs_created_read_moved_and_deleted_items_between_states(
    ews: EwsServer, account: Account
) -> None:
    done_id = ews.add_folder("Done")
    for subject in ("Read me", "Move me", "Delete me", "Trash me"):
        ews.deliver(mime(subject))
    inbox = account.inbox
    first = list(inbox.sync_items())
    assert sorted(item.subject for change, item in first if change == "create") == [
        "Delete me",
        "Move me",
        "Read me",
        "Trash me",
    ]
    state = inbox.item_sync_state
    by_subject = {item.subject: item for _, item in first}
    ids = {subject: item.id for subject, item in by_subject.items()}  # exchangelib updates them

    by_subject["Read me"].is_read = True
    by_subject["Read me"].save(update_fields=["is_read"])
    done = next(f for f in account.msg_folder_root.children if f.id == done_id)
    by_subject["Move me"].move(done)
    by_subject["Delete me"].delete()
    by_subject["Trash me"].move_to_trash()
    ews.deliver(mime("New one"))

    changes = list(inbox.sync_items(sync_state=state))
    kinds = sorted(change for change, _ in changes)
    assert kinds == ["create", "delete", "delete", "delete", "read_flag_change"]
    deleted = {item.id for change, item in changes if change == "delete"}
    assert deleted == {ids[s] for s in ("Move me", "Delete me", "Trash me")}
    [(item_id, is_read)] = [item for change, item in changes if change == "read_flag_change"]
    assert item_id.id == ids["Read me"] and is_read is True
    assert [item.subject for change, item in changes if change == "create"] == ["New one"]
    assert list(inbox.sync_items(sync_state=inbox.item_sync_state)) == []

    assert [m.raw for m in ews.messages(done_id)] == [mime("Move me")]
    assert [m.raw for m in ews.messages("deleteditems")] == [mime("Trash me")]


def test_it_pages_changes_by_max_changes_returned(ews: EwsServer, account: Account) -> None:
    for n in range(5):
        ews.deliver(mime(f"Ticket {n}"))
    changes = list(account.inbox.sync_items(max_changes_returned=2))
    assert sorted(item.subject for _, item in changes) == [f"Ticket {n}" for n in range(5)]
    assert ews.requests.count("SyncFolderItems") == 3


def test_it_refuses_a_sync_state_it_no_longer_knows(ews: EwsServer, account: Account) -> None:
    ews.deliver(mime("One"))
    inbox = account.inbox
    list(inbox.sync_items())
    state = inbox.item_sync_state
    ews.expire_sync_states()
    with pytest.raises(ErrorInvalidSyncStateData):
        list(inbox.sync_items(sync_state=state))
    with pytest.raises(ErrorInvalidSyncStateData):
        list(inbox.sync_items(sync_state="bm90IGEgc3RhdGU="))


def test_it_round_trips_the_mime_content(ews: EwsServer, account: Account) -> None:
    raw = mime("Bytes") + "Grüße, 8-bit body.\r\n".encode("latin-1")
    ews.deliver(raw)
    [(_, item)] = list(account.inbox.sync_items(only_fields=["subject"]))
    [fetched] = list(account.fetch([item], only_fields=["mime_content", "subject", "is_read"]))
    assert fetched.mime_content == raw
    assert (fetched.subject, fetched.is_read) == ("Bytes", False)


def test_it_sends_and_saves_a_copy_in_sent_items(ews: EwsServer, account: Account) -> None:
    ews.add_mailbox(CUSTOMER)
    raw = (
        f"From: {SUPPORT}\r\nTo: {CUSTOMER}\r\nBcc: audit@elsewhere.test\r\n"
        "Subject: Re: Printer\r\nMessage-ID: <reply-1@helpdesk.test>\r\n"
        "Date: Mon, 02 Mar 2026 11:00:00 +0000\r\n\r\nFixed.\r\n"
    ).encode()

    Message(account=account, folder=account.sent, mime_content=raw).send_and_save()

    [copy] = ews.messages("sentitems")
    assert copy.raw == raw and copy.is_read
    [delivered] = ews.messages("inbox", mailbox=CUSTOMER)
    assert b"Bcc:" not in delivered.raw and b"Subject: Re: Printer" in delivered.raw
    assert ews.outbox[-1].recipients == (CUSTOMER, "audit@elsewhere.test")
    assert ews.messages("inbox") == []


def test_it_refuses_to_send_as_another_address(ews: EwsServer, account: Account) -> None:
    raw = f"From: boss@helpdesk.test\r\nTo: {CUSTOMER}\r\nSubject: Hi\r\n\r\nx\r\n".encode()
    with pytest.raises(ErrorSendAsDenied):
        Message(account=account, folder=account.sent, mime_content=raw).send_and_save()
    assert ews.outbox == [] and ews.messages("sentitems") == []


def test_it_refuses_wrong_credentials(ews: EwsServer) -> None:
    with pytest.raises(UnauthorizedError):
        connect(ews, password="wrong").inbox  # noqa: B018 (the property makes the request)
    assert ews.requests == []


def test_it_authenticates_an_ntlm_connection() -> None:
    before = os.environ.get("NTLM_USER_FILE")
    with EwsServer(ntlm=True) as ews:
        ews.deliver(mime("Over NTLM"))
        for user in ("HELPDESK\\agent", "agent"):
            assert connect(ews, username=user, auth_type=NTLM).inbox.total_count == 1
        with pytest.raises(UnauthorizedError):
            connect(ews, username="HELPDESK\\agent", password="wrong", auth_type=NTLM).inbox  # noqa: B018
        assert connect(ews).inbox.total_count == 1  # Basic is still offered
    assert os.environ.get("NTLM_USER_FILE") == before


def test_it_opens_a_shared_mailbox_only_with_full_access(ews: EwsServer) -> None:
    shared = "team@helpdesk.test"
    ews.add_mailbox(shared)
    ews.deliver(mime("For the team"), mailbox=shared)
    with pytest.raises(ErrorAccessDenied):
        connect(ews, shared).inbox  # noqa: B018
    ews.grant("agent", shared)
    assert connect(ews, shared).inbox.total_count == 1


def test_it_reports_events_to_a_pull_subscription(ews: EwsServer, account: Account) -> None:
    inbox = account.inbox
    subscription_id, watermark = inbox.subscribe_to_pull()
    delivered = ews.deliver(mime("Pushed"))

    [notification] = list(inbox.get_events(subscription_id, watermark))
    new_mail = [e for e in notification.events if isinstance(e, NewMailEvent)]
    assert [e.item_id.id for e in new_mail] == [delivered]
    assert notification.previous_watermark == watermark
    watermark = notification.events[-1].watermark

    [(_, item)] = list(inbox.sync_items(only_fields=["subject"]))
    item.move(account.trash)
    [notification] = list(inbox.get_events(subscription_id, watermark))
    [moved] = notification.events
    assert isinstance(moved, MovedEvent)
    assert moved.old_item_id.id == delivered and moved.old_parent_folder_id.id == inbox.id
    watermark = moved.watermark

    [quiet] = list(inbox.get_events(subscription_id, watermark))
    assert [type(e) for e in quiet.events] == [StatusEvent]
    assert inbox.unsubscribe(subscription_id) is True


def test_it_refuses_bad_watermarks_and_expired_subscriptions(
    ews: EwsServer, account: Account
) -> None:
    inbox = account.inbox
    subscription_id, watermark = inbox.subscribe_to_pull()
    with pytest.raises(ErrorInvalidWatermark):
        list(inbox.get_events(subscription_id, "bm9wZQ=="))
    ews.expire_subscriptions()
    with pytest.raises(ErrorExpiredSubscription):
        list(inbox.get_events(subscription_id, watermark))


def test_it_tells_the_client_to_back_off_when_busy(ews: EwsServer, account: Account) -> None:
    ews.busy_next(1, back_off_ms=2500)
    with pytest.raises(ErrorServerBusy) as busy:
        account.root  # noqa: B018
    assert busy.value.back_off == 2.5
    assert account.inbox.name == "Inbox"


def test_it_keeps_soft_deleted_items_out_of_the_visible_folders(
    ews: EwsServer, account: Account
) -> None:
    ews.deliver(mime("Soft"))
    [(_, item)] = list(account.inbox.sync_items(only_fields=["subject"]))
    item.soft_delete()
    assert ews.messages("inbox") == [] and ews.messages("deleteditems") == []
    assert [m.raw for m in ews.messages("recoverableitemsdeletions")] == [mime("Soft")]


def test_it_tells_its_version_to_a_client_that_guesses_it(ews: EwsServer) -> None:
    config = Configuration(
        service_endpoint=ews.url, credentials=Credentials("agent", "Secret-1"), auth_type=BASIC
    )
    account = Account(SUPPORT, config=config, autodiscover=False, access_type=DELEGATE)
    assert account.version.build == Build(15, 1, 2507, 6)
    assert "ConvertId" in ews.requests


def test_it_accepts_a_bearer_token_it_issued_and_refuses_others(ews: EwsServer) -> None:
    token = ews.issue_token("agent")
    assert ews.authenticate(f"Bearer {token}") == "agent"
    ews.revoke_token(token)
    assert ews.authenticate(f"Bearer {token}") is None
