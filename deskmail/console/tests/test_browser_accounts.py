"""An admin sets up an email account in a real browser, against the suite's Dovecot and
Postfix, and the mail that reaches it becomes a ticket."""

from __future__ import annotations

import re
import smtplib
from typing import Any

import pytest

from deskmail.ingest.inbox import drain
from deskmail.mailboxes.connections import inbound_session
from deskmail.mailboxes.models import Mailbox
from deskmail.sync.driver import sync_pass
from deskmail.testing.browser import Console, assert_named_controls
from deskmail.testing.builders import make_email
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.waiting import eventually
from deskmail.tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.servers]


@pytest.fixture(autouse=True)
def trust_the_test_servers(settings: Any, mail_servers: MailServers) -> None:
    settings.CA_FILE = mail_servers.cafile


def _deliver(servers: MailServers, account: MailAccount, raw: bytes) -> None:
    """Through Postfix (as root), which hands it to Dovecot over LMTP; else straight in."""
    if not servers.postfix:
        servers.append(account, raw)
        return
    with smtplib.SMTP(servers.host, servers.ports["smtp"], timeout=10) as smtp:
        smtp.sendmail("ann@customer.test", [account.address], raw)


def _ticket_arrives(mailbox: Mailbox, subject: str) -> Ticket | None:
    with inbound_session(mailbox) as session:
        sync_pass(mailbox, session)
    drain()
    return Ticket.objects.filter(mailbox=mailbox, title=subject).first()


def test_an_admin_adds_an_imap_account_tests_it_and_its_mail_becomes_tickets(
    console: Console, team, mail_servers: MailServers, mail_account: MailAccount
):
    page = console.sign_in(team.ada)
    page.get_by_role("link", name="Email accounts").click()
    page.get_by_role("link", name="Add an account").click()
    page.get_by_role("link", name="IMAP with SMTP").click()
    assert_named_controls(page)

    page.get_by_label("Name (used in the console and in YAML)", exact=True).fill("sales")
    page.get_by_role("textbox", name=re.compile("^Key")).fill("SAL")
    page.get_by_label("Business address", exact=True).fill(mail_account.address)
    page.get_by_label("Status", exact=True).select_option("active")
    page.get_by_label("Password or app password", exact=True).fill(mail_account.password)
    page.get_by_label("Incoming server", exact=True).fill(mail_servers.host)
    page.get_by_label("Incoming port", exact=True).fill(str(mail_servers.ports["imap"]))
    page.get_by_label("Incoming security", exact=True).select_option("starttls")
    smtp_port = mail_servers.ports.get("submission", mail_servers.ports["imap"])
    page.get_by_label("Outgoing server (SMTP)", exact=True).fill(mail_servers.host)
    page.get_by_label("Outgoing port", exact=True).fill(str(smtp_port))
    page.get_by_label("Outgoing security", exact=True).select_option("starttls")
    page.get_by_role("button", name="Test the connection").click()

    results = page.get_by_role("status").filter(has_text="Connection test")
    results.get_by_text("Incoming: every step passed").wait_for()
    if mail_servers.postfix:
        results.get_by_text("Outgoing: every step passed").wait_for()
    assert_named_controls(page)
    page.get_by_label("Password or app password", exact=True).fill(mail_account.password)
    page.get_by_role("button", name="Save the account").click()
    page.wait_for_url(f"{console.url}/accounts/sales/")
    page.get_by_text("Saved the account sales.").wait_for()

    mailbox = Mailbox.objects.get(name="sales")
    assert mailbox.status == "active" and mailbox.inbound_secret == mail_account.password
    _deliver(
        mail_servers,
        mail_account,
        make_email(
            sender="Ann <ann@customer.test>", to=mail_account.address, subject="Broken lamp"
        ),
    )
    ticket = eventually(
        lambda: _ticket_arrives(mailbox, "Broken lamp"), timeout=20, what="the mail as a ticket"
    )

    page.get_by_role("link", name="Tickets of sales").click()
    page.get_by_role("link", name="Broken lamp").click()
    page.wait_for_url(f"{console.url}/t/{ticket.number}/")
