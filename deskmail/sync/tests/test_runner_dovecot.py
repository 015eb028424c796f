"""The mailbox runner against real Dovecot: IDLE, polling, POP3, failures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from django.utils import timezone

from deskmail.mailboxes.models import Mailbox, request_retry
from deskmail.sync.models import SyncCursor
from deskmail.sync.processor import InboxProcessor
from deskmail.sync.runner import MailboxRunner
from deskmail.sync.tests.helpers import imap_mailbox
from deskmail.testing.builders import make_email, make_mailbox, message_id_of
from deskmail.testing.waiting import eventually
from deskmail.tickets.models import Message, Ticket

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run_mailbox() -> Iterator[Callable[[Mailbox], MailboxRunner]]:
    """Start a mailbox's runner, with the inbox processor a worker runs beside it."""
    processor = InboxProcessor("test-worker")
    processor.start()
    runners: list[MailboxRunner] = []

    def start(mailbox: Mailbox) -> MailboxRunner:
        runner = MailboxRunner(mailbox.pk, "test-worker", on_accepted=processor.wake)
        runners.append(runner)
        runner.start()
        return runner

    yield start
    for runner in runners:
        runner.stop()
    for runner in runners:
        runner.join(timeout=15)
        assert not runner.is_alive(), "a runner did not stop"
    processor.stop()
    processor.join(timeout=15)
    assert not processor.is_alive(), "the processor did not stop"


def _ticket_subjects() -> list[str]:
    return sorted(Ticket.objects.values_list("title", flat=True))


def test_it_turns_mail_appended_to_the_server_into_a_ticket_via_idle(
    mail_servers, mail_account, run_mailbox
):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=True, poll_seconds=3600)
    runner = run_mailbox(mailbox)
    eventually(lambda: runner.passes >= 1)
    raw = make_email(to=mail_account.address, subject="Printer on fire")
    uid = mail_servers.append(mail_account, raw)

    eventually(lambda: Ticket.objects.filter(title="Printer on fire").exists())
    message = Message.objects.get(message_id=message_id_of(raw))
    assert message.ticket.mailbox_id == mailbox.pk
    # The after-fetch action (mark_seen by default) ran, after the commit.
    eventually(lambda: "\\Seen" in mail_servers.flags(mail_account)[uid])
    cursor = SyncCursor.objects.get(mailbox=mailbox).value
    assert cursor["last_uid"] == uid and cursor["unacked"] == []


def test_it_polls_when_idle_is_off(mail_servers, mail_account, run_mailbox):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=False, poll_seconds=1)
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="First"))
    runner = run_mailbox(mailbox)
    eventually(lambda: _ticket_subjects() == ["First"])
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Second"))
    eventually(lambda: _ticket_subjects() == ["First", "Second"])
    eventually(lambda: runner.passes >= 2)


def test_it_never_ingests_a_message_twice_across_passes_and_restarts(
    mail_servers, mail_account, run_mailbox
):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=False, after_fetch="leave")
    for n in range(5):
        mail_servers.append(mail_account, make_email(to=mail_account.address, subject=f"m{n}"))
    first = run_mailbox(mailbox)
    eventually(lambda: Message.objects.count() == 5)
    eventually(lambda: first.passes >= 3)
    first.stop()
    first.join(timeout=15)
    second = run_mailbox(mailbox)
    eventually(lambda: second.passes >= 2)
    assert Message.objects.count() == 5
    # after_fetch: leave keeps the messages unread on the server.
    assert all("\\Seen" not in flags for flags in mail_servers.flags(mail_account).values())


def test_it_moves_messages_to_a_folder_after_storing_them(mail_servers, mail_account, run_mailbox):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=False, after_fetch="move:Processed")
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Move me"))
    run_mailbox(mailbox)
    eventually(lambda: Ticket.objects.filter(title="Move me").exists())
    eventually(lambda: len(mail_servers.read_mailbox(mail_account, "Processed")) == 1)
    assert mail_servers.read_mailbox(mail_account) == []


def test_it_syncs_pop3_and_deletes_after_storing(mail_servers, mail_account, run_mailbox):
    mailbox = make_mailbox(
        name="pop",
        key="POP",
        address=mail_account.address,
        inbound={
            "protocol": "pop3",
            "host": "127.0.0.1",
            "port": mail_servers.ports["pop3"],
            "security": "none",
            "username": mail_account.address,
            "after_fetch": "delete",
            "poll_seconds": 1,
        },
    )
    mailbox.inbound_secret = mail_account.password
    mailbox.save()
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Via POP3"))
    run_mailbox(mailbox)
    eventually(lambda: Ticket.objects.filter(title="Via POP3").exists())
    eventually(lambda: mail_servers.read_mailbox(mail_account) == [])
    assert Message.objects.count() == 1
    # Deleted on the server, so its UIDL no longer needs remembering.
    eventually(lambda: SyncCursor.objects.get(mailbox=mailbox).value.get("seen") == [])


def test_it_marks_the_mailbox_failed_with_the_servers_words_after_max_tries(
    mail_servers, mail_account, run_mailbox, monkeypatch
):
    monkeypatch.setattr("deskmail.sync.runner.backoff_seconds", lambda failures: 0.05)
    mailbox = imap_mailbox(mail_servers, mail_account, max_tries=2, cool_off_minutes=60)
    mailbox.inbound_secret = "wrong password"
    mailbox.save()
    run_mailbox(mailbox)

    def failed() -> bool:
        """the mailbox is marked failed"""
        mailbox.refresh_from_db()
        return mailbox.status == Mailbox.Status.FAILED

    eventually(failed)
    assert mailbox.consecutive_failures == 2
    assert "AUTHENTICATIONFAILED" in mailbox.failed_reason or "Authentication failed" in (
        mailbox.failed_reason
    )
    assert "Re-enter the password" in mailbox.failed_reason
    assert "wrong password" not in mailbox.failed_reason


def test_it_recovers_a_failed_mailbox_after_the_cool_off(mail_servers, mail_account, run_mailbox):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=False, cool_off_minutes=0)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        status=Mailbox.Status.FAILED, consecutive_failures=3, failed_reason="earlier outage"
    )
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Back"))
    run_mailbox(mailbox)
    eventually(lambda: Ticket.objects.filter(title="Back").exists())

    def recovered() -> bool:
        """the mailbox is active again"""
        mailbox.refresh_from_db()
        return mailbox.status == Mailbox.Status.ACTIVE

    eventually(recovered)
    assert mailbox.consecutive_failures == 0 and mailbox.failed_reason == ""


def test_it_filters_by_header_and_steps_over_refused_mail_without_touching_it(
    mail_servers, mail_account, run_mailbox
):
    mailbox = imap_mailbox(
        mail_servers, mail_account, idle=False, header_filter="x-antivirus-report=SAFE"
    )
    mail_servers.append(
        mail_account,
        make_email(
            to=mail_account.address, subject="upper", headers={"X-Antivirus-Report": "SAFE"}
        ),
    )
    refused = mail_servers.append(
        mail_account,
        make_email(
            to=mail_account.address, subject="lower", headers={"X-Antivirus-Report": "safe"}
        ),
    )
    runner = run_mailbox(mailbox)
    eventually(lambda: runner.passes >= 2)
    assert _ticket_subjects() == ["upper"]
    cursor = SyncCursor.objects.get(mailbox=mailbox).value
    assert cursor["last_uid"] == refused and cursor["unacked"] == []
    assert "\\Seen" not in mail_servers.flags(mail_account)[refused]


def _fail_for_an_hour(mailbox: Mailbox) -> None:
    """As the worker leaves a mailbox that kept failing: failed, with a long cool-off ahead."""
    Mailbox.objects.filter(pk=mailbox.pk).update(
        status=Mailbox.Status.FAILED,
        consecutive_failures=3,
        failed_reason="login refused",
        last_error="login refused",
        last_error_at=timezone.now(),
    )


def test_it_retries_at_once_after_the_settings_were_fixed(mail_servers, mail_account, run_mailbox):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=False, cool_off_minutes=60)
    _fail_for_an_hour(mailbox)
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Fixed"))
    mailbox.refresh_from_db()
    mailbox.config = {**mailbox.config, "display_name": "Support, fixed"}
    mailbox.save()  # the worker restarts a mailbox's sync on every change like this

    run_mailbox(mailbox)

    eventually(lambda: Ticket.objects.filter(title="Fixed").exists())


def test_it_retries_at_once_when_asked_to(mail_servers, mail_account, run_mailbox):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=False, cool_off_minutes=60)
    _fail_for_an_hour(mailbox)
    mail_servers.append(mail_account, make_email(to=mail_account.address, subject="Again"))
    request_retry(mailbox)  # `deskmail mailboxes retry NAME`

    run_mailbox(mailbox)

    eventually(lambda: Ticket.objects.filter(title="Again").exists())


def test_it_waits_out_the_cool_off_when_nothing_changed(mail_servers, mail_account, run_mailbox):
    mailbox = imap_mailbox(mail_servers, mail_account, idle=False, cool_off_minutes=60)
    _fail_for_an_hour(mailbox)
    runner = run_mailbox(mailbox)

    eventually(lambda: runner._next_attempt is not None, what="the runner planned its retry")
    assert runner._next_attempt > timezone.now() + dt.timedelta(minutes=59)
    assert runner.passes == 0


def test_a_mailbox_over_its_accounts_session_cap_waits_and_says_why(
    mail_servers, mail_account, run_mailbox
):
    first = imap_mailbox(mail_servers, mail_account, idle=True, max_sessions=1)
    inbound = dict(first.config["inbound"])
    second = make_mailbox("second folder", "SU2", "other@example.com", inbound=inbound)
    second.inbound_secret = mail_account.password
    second.save()
    holder = run_mailbox(first)
    eventually(lambda: holder.passes >= 1, what="the first mailbox's session")

    waiter = run_mailbox(second)
    eventually(
        lambda: Mailbox.objects.get(pk=second.pk).last_error.startswith("waiting for a session"),
        what="the second mailbox saying why it waits",
    )
    status = Mailbox.objects.get(pk=second.pk)
    assert "1 of this worker's sessions" in status.last_error
    assert status.consecutive_failures == 0 and waiter.passes == 0

    holder.stop()  # its session closes: the slot goes to the one waiting
    eventually(lambda: waiter.passes >= 1, what="the second mailbox's session")
    assert Mailbox.objects.get(pk=second.pk).last_error == ""
