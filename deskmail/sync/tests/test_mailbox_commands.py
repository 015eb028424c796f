"""`deskmail mailboxes status` and `deskmail mailboxes test`."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from deskmail.mailboxes.models import Mailbox
from deskmail.sync import health
from deskmail.sync.models import SyncCursor
from deskmail.testing.builders import make_mailbox


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.django_db
def test_status_shows_the_failure_with_the_servers_words_and_the_backlog():
    mailbox = make_mailbox(inbound={"protocol": "imap", "host": "imap.example.com", "max_tries": 1})
    SyncCursor.objects.create(mailbox=mailbox, backlog=7)
    health.record_failure(mailbox, "IMAP login refused", "[AUTHENTICATIONFAILED] Nope.")
    output = _call("mailboxes", "status")
    assert "failed: IMAP login refused ([AUTHENTICATIONFAILED] Nope.)" in output
    assert " 7 " in output
    mailbox.refresh_from_db()
    assert mailbox.status == Mailbox.Status.FAILED


@pytest.mark.django_db
def test_status_shows_a_healthy_mailbox_after_a_sync():
    mailbox = make_mailbox(inbound={"protocol": "imap", "host": "imap.example.com"})
    health.record_success(mailbox)
    output = _call("mailboxes", "status")
    assert "active" in output and "s ago" in output


def _dovecot_mailbox(servers, account, password: str) -> Mailbox:
    mailbox = make_mailbox(
        name="probe",
        address=account.address,
        inbound={
            "protocol": "imap",
            "host": "127.0.0.1",
            "port": servers.ports["imap"],
            "security": "none",
            "username": account.address,
        },
    )
    mailbox.inbound_secret = password
    mailbox.save()
    return mailbox


@pytest.mark.servers
@pytest.mark.django_db
def test_test_passes_every_step_against_a_working_server(mail_servers, mail_account):
    _dovecot_mailbox(mail_servers, mail_account, mail_account.password)
    output = _call("mailboxes", "test", "probe")
    assert "log in as" in output and "count messages in INBOX: 0 messages" in output
    assert "every step passed" in output


@pytest.mark.servers
@pytest.mark.django_db
def test_test_shows_the_servers_words_when_the_login_is_refused(mail_servers, mail_account):
    _dovecot_mailbox(mail_servers, mail_account, "not the password")
    out = io.StringIO()
    with pytest.raises(CommandError, match="connection test failed"):
        call_command("mailboxes", "test", "probe", stdout=out, stderr=out)
    assert "FAIL log in as" in out.getvalue()
    assert "AUTHENTICATIONFAILED" in out.getvalue() or "Authentication failed" in out.getvalue()
    assert "not the password" not in out.getvalue()


@pytest.mark.django_db
def test_test_names_the_known_mailboxes_for_an_unknown_name():
    make_mailbox(name="support")
    with pytest.raises(CommandError, match=r"no mailbox named 'nope'; known mailboxes: support"):
        _call("mailboxes", "test", "nope")
