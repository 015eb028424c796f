"""An OAuth2 mailbox as operators run it: connected with `deskmail mailboxes authorize`, its
tokens refreshed by several processes at once, against the local authorization server
(which rotates the refresh token on every refresh and refuses a used one) and Dovecot."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import yaml

from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.tokenserver import RegisteredClient
from deskmail.testing.worker_process import DESKMAIL, DatabaseUnavailable, WorkerDatabase

pytestmark = pytest.mark.servers

# Each process asks for a token this many times; every ask refreshes (tokens last 0 s).
ASKS = 25
ASKING = """
import sys, django
django.setup()
from deskmail.mailboxes.connections import credentials
from deskmail.mailboxes.models import Mailbox
source = credentials(Mailbox.objects.get(name=sys.argv[1]), "inbound")
for _ in range(int(sys.argv[2])):
    source.secret()
print("asked", sys.argv[2])
"""


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[WorkerDatabase]:
    try:
        db = WorkerDatabase.create(request.param)
    except DatabaseUnavailable as exc:
        pytest.fail(f"PostgreSQL is needed for this test: {exc}")
    with db:
        yield db


def load_oauth_mailbox(
    db: WorkerDatabase, servers: MailServers, account: MailAccount, client: RegisteredClient
) -> str:
    authorize, token = servers.tokens.endpoints("google")
    mailbox = {
        "name": "support",
        "key": "SUP",
        "address": account.address,
        "status": "active",
        "purpose": "receive",
        "inbound": {
            "protocol": "imap",
            "host": servers.host,
            "port": servers.ports["imap"],
            "security": "none",
            "username": account.address,
            "auth": "oauth2",
        },
        "oauth": {
            "grant": "user",
            "provider": "google",
            "client_id": client.client_id,
            "auth_url": authorize,
            "token_url": token,
            "redirect_uri": client.redirect_uris[0],
        },
    }
    db.load_mailboxes(yaml.safe_dump({"mailboxes": [mailbox]}), {})
    return "support"


def authorize_in_a_terminal(
    db: WorkerDatabase, servers: MailServers, name: str, client: RegisteredClient
) -> str:
    """`deskmail mailboxes authorize`: open the printed address, paste where it led back."""
    env = db.env(DESKMAIL_CA_FILE=servers.tokens.cafile, CLIENT_SECRET=client.secret or "")
    command = subprocess.Popen(
        [DESKMAIL, "mailboxes", "authorize", name, "--client-secret-env", "CLIENT_SECRET"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stdout is not None and command.stdin is not None
    url = ""
    while not url.startswith("https://"):
        url = command.stdout.readline().strip()
        assert url or command.poll() is None, command.stderr.read() if command.stderr else ""
    back = f"{client.redirect_uris[0]}?{urlencode(servers.tokens.consent(url))}"
    out, err = command.communicate(back + "\n", timeout=60)
    assert command.returncode == 0, err
    return out


def test_two_processes_refreshing_fifty_times_never_lose_the_rotated_token(
    database: WorkerDatabase, mail_servers: MailServers, mail_account: MailAccount
) -> None:
    tokens = mail_servers.tokens
    tokens.add_user(mail_account.address)
    client = tokens.register_client(access_token_lifetime=0)
    name = load_oauth_mailbox(database, mail_servers, mail_account, client)
    said = authorize_in_a_terminal(database, mail_servers, name, client)
    assert f"connected as {mail_account.address}" in said
    refused_before = tokens.refused("invalid_grant")

    env = database.env(DESKMAIL_CA_FILE=tokens.cafile)
    askers = [
        subprocess.Popen(
            [sys.executable, "-c", ASKING, name, str(ASKS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [asker.communicate(timeout=240) for asker in askers]

    for asker, (out, err) in zip(askers, results, strict=True):
        assert asker.returncode == 0, err
        assert f"asked {ASKS}" in out
    assert tokens.refreshes(client.client_id) == 2 * ASKS
    assert tokens.refused("invalid_grant") == refused_before
    # The last rotated refresh token still works: refreshed once more (to a token that
    # lasts), then a real XOAUTH2 login at Dovecot.
    tokens.set_access_token_lifetime(client.client_id, 3600)
    tested = database.deskmail("mailboxes", "test", name, env={"DESKMAIL_CA_FILE": tokens.cafile})
    assert "every step passed" in tested
    assert tokens.refreshes(client.client_id) == 2 * ASKS + 1
