"""The test mail servers themselves: what every connector test relies on."""

from __future__ import annotations

import imaplib
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient

from deskmail.testing.mailservers import PLAINTEXT_HOST, MailAccount, MailServers

MESSAGE = b"From: a@customer.test\r\nSubject: harness\r\nMessage-ID: <h@x>\r\n\r\nbody\r\n"


def _wait_for_messages(servers: MailServers, account: MailAccount) -> list[bytes]:
    for _ in range(100):
        if found := servers.read_mailbox(account):
            return found
        time.sleep(0.05)
    return []


@pytest.mark.servers
def test_it_gives_each_test_a_fresh_empty_account(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    other = mail_servers.new_account()
    assert other.address != mail_account.address
    assert mail_servers.read_mailbox(mail_account) == []


@pytest.mark.servers
def test_it_appends_and_reads_back_exact_bytes(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    uid = mail_servers.append(mail_account, MESSAGE, flags=["\\Seen"])
    assert mail_servers.read_mailbox(mail_account) == [MESSAGE]
    assert "\\Seen" in mail_servers.flags(mail_account)[uid]


@pytest.mark.servers
def test_it_fills_a_maildir_with_unseen_mail_dovecot_serves(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    messages = [MESSAGE.replace(b"<h@x>", f"<{n}@x>".encode()) for n in range(3)]
    assert mail_servers.fill_maildir(mail_account, messages) == 3
    assert sorted(mail_servers.read_mailbox(mail_account)) == sorted(messages)
    assert not any("\\Seen" in flags for flags in mail_servers.flags(mail_account).values())


@pytest.mark.servers
def test_it_serves_imaps_with_a_certificate_from_its_own_ca(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    context = ssl.create_default_context(cafile=mail_servers.cafile)
    with IMAPClient("127.0.0.1", mail_servers.ports["imaps"], ssl_context=context) as client:
        client.login(*mail_account)


@pytest.mark.servers
def test_it_accepts_a_bearer_token_for_imap(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    token = mail_servers.issue_token(mail_account.address)
    with IMAPClient("127.0.0.1", mail_servers.ports["imap"], ssl=False) as client:
        client.oauth2_login(mail_account.address, token)


@pytest.mark.servers
def test_it_adds_a_user_at_runtime(mail_servers: MailServers) -> None:
    account = mail_servers.add_user("late@customer.test", "late-pw")
    mail_servers.append(account, MESSAGE)
    assert mail_servers.read_mailbox(account) == [MESSAGE]


@pytest.mark.servers
def test_it_delivers_smtp_into_a_dovecot_mailbox(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    if not mail_servers.postfix:
        pytest.skip("Postfix needs root")
    with smtplib.SMTP("127.0.0.1", mail_servers.ports["smtp"], timeout=10) as smtp:
        smtp.sendmail("a@customer.test", [mail_account.address], MESSAGE)
    delivered = _wait_for_messages(mail_servers, mail_account)
    assert len(delivered) == 1
    assert b"Message-ID: <h@x>" in delivered[0]
    assert delivered[0].endswith(b"\r\n\r\nbody\r\n")


@pytest.mark.servers
def test_it_keeps_mail_across_a_dovecot_restart(
    mail_servers: MailServers, mail_account: MailAccount
) -> None:
    mail_servers.append(mail_account, MESSAGE)
    client = mail_servers.imap(mail_account)
    mail_servers.restart_dovecot()
    with pytest.raises((OSError, imaplib.IMAP4.abort)):
        client.noop()
    assert mail_servers.read_mailbox(mail_account) == [MESSAGE]


@pytest.mark.servers
def test_it_offers_no_starttls_on_the_plaintext_host(mail_servers: MailServers) -> None:
    with IMAPClient(PLAINTEXT_HOST, mail_servers.ports["imap"], ssl=False) as client:
        assert b"STARTTLS" not in client.capabilities()
    if mail_servers.postfix:
        with smtplib.SMTP(PLAINTEXT_HOST, mail_servers.ports["smtp"], timeout=10) as smtp:
            smtp.ehlo()
            assert not smtp.has_extn("starttls")


@pytest.mark.servers
def test_it_stops_the_servers_when_the_test_process_is_killed() -> None:
    script = (
        "import os, signal\n"
        "from deskmail.testing.mailservers import MailServers\n"
        "servers = MailServers(postfix=False).start()\n"
        "print(servers.dir, servers._dovecot.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == -signal.SIGKILL, run.stderr
    directory, pid = run.stdout.split()
    for _ in range(100):
        if not Path(directory).exists() and not _running(int(pid)):
            break
        time.sleep(0.05)
    assert not _running(int(pid))
    assert not Path(directory).exists()


def _running(pid: int) -> bool:
    """True if pid is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
