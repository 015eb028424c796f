"""The channel switch with the real `deskmail worker` against real Dovecot, on SQLite and
PostgreSQL: switched off, the worker keeps its lease, marked paused, and fetches nothing
(mail appended meanwhile stays unread on the server); switched on, it resumes from its
cursor and the mail that arrived meanwhile becomes a ticket, once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from deskmail.testing.databases import postgres_required
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.worker_process import (
    DatabaseUnavailable,
    WorkerDatabase,
    WorkerProcess,
    mailbox_yaml,
    numbered_email,
    wait_until,
)

pytestmark = pytest.mark.servers


@pytest.fixture(params=["sqlite", "postgres"])
def worker_db(request: pytest.FixtureRequest) -> Iterator[WorkerDatabase]:
    try:
        db = WorkerDatabase.create(request.param)
    except DatabaseUnavailable as exc:
        if postgres_required():
            pytest.fail(f"the PostgreSQL variant needs a server (TEST_DB is set): {exc}")
        pytest.skip(f"the PostgreSQL variant needs a server: {exc}")
    try:
        yield db
    finally:
        db.drop()


def _stored(db: WorkerDatabase, message_id: str) -> int:
    return int(
        db.scalar("SELECT COUNT(*) FROM tickets_message WHERE message_id = %s", (message_id,))
    )


def _lease(db: WorkerDatabase) -> tuple[str, object, object]:
    rows = db.query("SELECT owner, expires_at, paused_at FROM sync_lease")
    owner, expires_at, paused_at = rows[0]
    return owner, expires_at, paused_at


def _wait(db: WorkerDatabase, worker: WorkerProcess, check: object, what: str) -> None:
    try:
        wait_until(check, 60, what)  # type: ignore[arg-type]
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_tail()}") from None


def test_switched_off_nothing_is_fetched_and_on_again_what_arrived_comes_once(
    mail_servers: MailServers, mail_account: MailAccount, worker_db: WorkerDatabase
) -> None:
    db = worker_db
    yaml_text, secrets = mailbox_yaml(mail_servers, [mail_account], idle=True)
    db.load_mailboxes(yaml_text, secrets)
    with WorkerProcess(db, tick=0.5) as worker:
        before, raw = numbered_email(1, mail_account.address, tag="before")
        mail_servers.append(mail_account, raw)
        _wait(db, worker, lambda: _stored(db, before) == 1, "the first mail stored")

        db.deskmail("channel", "off", "--reason", "moving the database")
        # The worker says it has seen the switch: it holds the mailbox, paused.
        _wait(db, worker, lambda: _lease(db)[2] is not None, "the mailbox paused by the worker")
        owner = _lease(db)[0]
        assert owner

        meanwhile, raw = numbered_email(2, mail_account.address, tag="meanwhile")
        uid = mail_servers.append(mail_account, raw)
        # Two lease renewals after the mail arrived: the worker ticked twice since, still
        # paused. Syncing, it would have had the mail at once (IDLE) and marked it seen.
        for _ in range(2):
            renewed = _lease(db)[1]
            _wait(db, worker, lambda r=renewed: _lease(db)[1] != r, "the lease renewed")
        assert _stored(db, meanwhile) == 0
        assert "\\Seen" not in mail_servers.flags(mail_account)[uid]
        assert _lease(db)[0] == owner and _lease(db)[2] is not None
        status = json.loads(db.deskmail("channel", "status", "--json"))
        assert status["on"] is False and status["reason"] == "moving the database"
        assert status["mailboxes_paused"] == 1 and status["mailboxes_syncing"] == 0
        assert "paused: the channel is off" in db.deskmail("mailboxes", "status")

        db.deskmail("channel", "on")
        _wait(db, worker, lambda: _stored(db, meanwhile) == 1, "the mail of meanwhile stored")
        assert _lease(db)[2] is None and _lease(db)[0] == owner  # same worker, same lease
        # One more mail through a further pass: nothing of before is fetched again.
        after, raw = numbered_email(3, mail_account.address, tag="after")
        mail_servers.append(mail_account, raw)
        _wait(db, worker, lambda: _stored(db, after) == 1, "the last mail stored")

    counts = dict(db.query("SELECT message_id, COUNT(*) FROM tickets_message GROUP BY message_id"))
    assert counts == {before: 1, meanwhile: 1, after: 1}
    assert db.scalar("SELECT COUNT(*) FROM tickets_ticket") == 3
    # Paused is not failing: no failure counted, no error recorded.
    assert db.query("SELECT status, consecutive_failures, last_error FROM mailboxes_mailbox") == [
        ("active", 0, "")
    ]
    kinds = [
        json.loads(data) if isinstance(data, str) else data
        for (data,) in db.query(
            "SELECT data FROM events_event WHERE kind = 'channel.switched' ORDER BY id"
        )
    ]
    assert [(k["on"], k["reason"]) for k in kinds] == [(False, "moving the database"), (True, "")]
