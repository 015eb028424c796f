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
from deskmail.services import mailbox_admin
from deskmail.services.access import SYSTEM
from deskmail.sync.driver import sync_pass
from deskmail.testing.browser import Console, _route_outside, assert_named_controls
from deskmail.testing.builders import make_email
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.tokenserver import TokenServer
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


def _trusting(console: Console, tokens: TokenServer) -> Any:
    """A browser that trusts the token server's certificate (made by the suite's own CA, as
    deskmail itself does through DESKMAIL_CA_FILE) and may talk to it, and to the console."""
    context = console.browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}, locale="en-US"
    )
    context.set_default_timeout(10_000)
    trusting = Console(
        console.server,
        context,
        context.new_page(),
        console.left,
        console.dialogs,
        console.csp_violations,
        console.errors,
        browser=console.browser,
    )
    trusting._watch(trusting.page)
    context.route("**/*", _route_outside(trusting))
    context.route(f"{tokens.base_url}/**", lambda route: route.continue_())  # tried first
    console.others.append(trusting)  # closed with the test's own
    return trusting


def test_an_admin_connects_an_account_on_the_providers_consent_page(
    console: Console, team, mail_servers: MailServers, mail_account: MailAccount, settings: Any
):
    tokens = mail_servers.tokens
    settings.CA_FILE = tokens.cafile
    app = tokens.register_client(redirect_uris=(f"{console.url}/oauth/callback/",))
    tokens.add_user(mail_account.address)
    authorize, token = tokens.endpoints("google")
    mailbox_admin.save_account(
        SYSTEM,
        {
            "name": "sales",
            "key": "SAL",
            "address": mail_account.address,
            "purpose": "receive",
            "status": "active",
            "inbound": {
                "protocol": "imap",
                "host": mail_servers.host,
                "port": mail_servers.ports["imap"],
                "security": "none",
                "username": mail_account.address,
                "auth": "oauth2",
            },
            "oauth": {
                "grant": "user",
                "provider": "google",
                "client_id": app.client_id,
                "auth_url": authorize,
                "token_url": token,
                "redirect_uri": f"{console.url}/oauth/callback/",
            },
        },
        mailbox_admin.Secrets(oauth_client=app.secret),
    )
    browser = _trusting(console, tokens)
    page = browser.sign_in(team.ada)
    browser.go("/accounts/sales/")

    page.get_by_role("link", name=re.compile("^Connect with Google")).click()
    page.get_by_label("Account").wait_for()
    assert page.get_by_label("Account").input_value() == mail_account.address
    page.get_by_role("button", name="Approve").click()

    page.wait_for_url(re.compile(r"/oauth/callback/\?"))
    page.get_by_text(re.compile("^Connected sales")).wait_for()
    page.get_by_text("Incoming: every step passed").wait_for()
    assert page.get_by_role("link", name=re.compile("^Connect with Google")).count() == 0
    assert_named_controls(page)
