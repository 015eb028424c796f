"""Exactly once under faults: `deskmail worker` killed, Dovecot restarted, the database away.

Each test runs the real worker as a separate process on a database of its own
(a SQLite file, and a fresh PostgreSQL database), against the suite's Dovecot,
and breaks something at random moments while it syncs. At the end every mail
put on the server is stored exactly once, in a ticket of its own.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator

import pytest

from deskmail.testing.databases import postgres_required
from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.worker_process import (
    DatabaseUnavailable,
    WorkerDatabase,
    WorkerProcess,
    append_all,
    in_background,
    mailbox_yaml,
    numbered_email,
    wait_for_count,
    wait_until,
)

pytestmark = pytest.mark.servers

KILLED_MESSAGES = 2000
OTHER_MESSAGES = 400
STALL = 240  # a killed engine's inbox lane is waited out for two minutes


@pytest.fixture(params=["sqlite", "postgres"])
def worker_db(request: pytest.FixtureRequest) -> Iterator[WorkerDatabase]:
    """A fresh, migrated database for worker processes, dropped afterwards."""
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


@pytest.fixture
def rng() -> random.Random:
    seed = random.randrange(2**32)
    print(f"random seed: {seed}")  # shown with a failure, to replay the same delays
    return random.Random(seed)


def _setup(
    servers: MailServers, account: MailAccount, db: WorkerDatabase, **inbound: object
) -> WorkerProcess:
    yaml_text, secrets = mailbox_yaml(servers, [account], **inbound)
    db.load_mailboxes(yaml_text, secrets)
    return WorkerProcess(db, tick=0.5)


def _stored(db: WorkerDatabase) -> int:
    return db.scalar("SELECT COUNT(*) FROM tickets_message")


def _wait_for_all(db: WorkerDatabase, worker: WorkerProcess, expected: int) -> None:
    try:
        wait_for_count(lambda: _stored(db), expected, STALL, "messages stored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; stored {_stored(db)}\n{worker.log_tail()}") from None


def _one_more_pass(
    db: WorkerDatabase, worker: WorkerProcess, servers: MailServers, account: MailAccount
) -> str:
    """Append one more mail and wait until it is stored: a whole further sync pass has run
    over the folder, and anything it would fetch twice would be stored by now too."""
    message_id, raw = numbered_email(0, account.address, tag="sentinel")
    servers.append(account, raw)
    try:
        wait_until(
            lambda: (
                db.scalar(
                    "SELECT COUNT(*) FROM tickets_message WHERE message_id = %s", (message_id,)
                )
                == 1
            ),
            60,
            "the sentinel mail stored",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_tail()}") from None
    return message_id


def _assert_exactly_once(
    db: WorkerDatabase, servers: MailServers, account: MailAccount, sent: list[str]
) -> None:
    """Every sent Message-ID is stored once, in its own ticket; the server side is finished."""
    rows = db.query("SELECT message_id, COUNT(*) FROM tickets_message GROUP BY message_id")
    counts = dict(rows)
    assert sorted(counts) == sorted(sent), "stored Message-IDs differ from those sent"
    assert {n for n in counts.values()} == {1}
    assert db.scalar("SELECT COUNT(*) FROM tickets_message WHERE ticket_id IS NULL") == 0
    assert db.scalar("SELECT COUNT(DISTINCT ticket_id) FROM tickets_message") == len(sent)
    numbers = [n for (n,) in db.query("SELECT number FROM tickets_ticket ORDER BY number")]
    assert numbers == list(range(1, len(sent) + 1)), "ticket numbers are not 1..N without gaps"
    assert db.scalar("SELECT COUNT(*) FROM ingest_quarantinedmessage") == 0
    assert db.scalar("SELECT COUNT(*) FROM ingest_inboxitem") == 0
    stored_files = list((db.data_dir / "files" / "raw").rglob("*.eml"))
    assert len(stored_files) == len(sent)
    # The after-fetch action (mark_seen) has reached every message, and the
    # cursor says so.
    flags = servers.flags(account)
    assert len(flags) == len(sent)
    assert all("\\Seen" in f for f in flags.values())
    ((value,),) = db.query("SELECT value FROM sync_synccursor")
    cursor = json.loads(value) if isinstance(value, str) else value
    assert cursor["last_uid"] == max(flags) and cursor["unacked"] == []


def test_it_stores_every_message_once_when_the_worker_is_killed_again_and_again(
    mail_servers, mail_account, worker_db, rng
):
    worker = _setup(mail_servers, mail_account, worker_db)
    mails = [numbered_email(n, mail_account.address) for n in range(KILLED_MESSAGES)]
    half = KILLED_MESSAGES // 2
    # Half is on the server before the first start, written in one go; the rest
    # is APPENDed over one connection while the worker is being killed.
    mail_servers.fill_maildir(mail_account, (raw for _, raw in mails[:half]))
    worker.start()
    try:
        with in_background(
            lambda: append_all(mail_servers, mail_account, (raw for _, raw in mails[half:]))
        ):
            for _ in range(5):
                # A restarted worker waits out the dead one's lease (3 s) first.
                time.sleep(rng.uniform(3.5, 7.5))
                before = _stored(worker_db)
                worker.kill()
                print(f"killed at {before} stored")
                worker.start()
        _wait_for_all(worker_db, worker, KILLED_MESSAGES)
        sentinel = _one_more_pass(worker_db, worker, mail_servers, mail_account)
    finally:
        worker.stop()
    assert worker.starts == 6
    sent = [mid for mid, _ in mails] + [sentinel]
    _assert_exactly_once(worker_db, mail_servers, mail_account, sent)


def test_it_stores_every_message_once_when_dovecot_restarts_mid_sync(
    mail_servers, mail_account, worker_db, rng
):
    worker = _setup(mail_servers, mail_account, worker_db)
    mails = [numbered_email(n, mail_account.address) for n in range(OTHER_MESSAGES)]
    mail_servers.fill_maildir(mail_account, (raw for _, raw in mails))
    worker.start()
    try:
        wait_until(lambda: _stored(worker_db) > 0, 60, "the first message stored")
        restarts = 0
        while restarts < 3 and _stored(worker_db) < OTHER_MESSAGES:
            time.sleep(rng.uniform(0.2, 2.0))
            mail_servers.restart_dovecot()
            restarts += 1
        assert restarts >= 1, "the sync ended before Dovecot could be restarted"
        _wait_for_all(worker_db, worker, OTHER_MESSAGES)
        sentinel = _one_more_pass(worker_db, worker, mail_servers, mail_account)
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()
    sent = [mid for mid, _ in mails] + [sentinel]
    _assert_exactly_once(worker_db, mail_servers, mail_account, sent)


def test_it_stores_every_message_once_when_the_database_is_briefly_unreachable(
    mail_servers, mail_account, worker_db, rng
):
    worker = _setup(mail_servers, mail_account, worker_db)
    mails = [numbered_email(n, mail_account.address) for n in range(OTHER_MESSAGES)]
    mail_servers.fill_maildir(mail_account, (raw for _, raw in mails))
    worker.start()
    try:
        wait_until(lambda: _stored(worker_db) > 0, 60, "the first message stored")
        outages = 0
        while outages < 3 and _stored(worker_db) < OTHER_MESSAGES:
            time.sleep(rng.uniform(0.2, 1.5))
            worker_db.outage(rng.uniform(1.0, 2.5))
            outages += 1
        assert outages >= 1, "the sync ended before the database could be taken away"
        _wait_for_all(worker_db, worker, OTHER_MESSAGES)
        sentinel = _one_more_pass(worker_db, worker, mail_servers, mail_account)
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()
    sent = [mid for mid, _ in mails] + [sentinel]
    _assert_exactly_once(worker_db, mail_servers, mail_account, sent)


def test_it_notices_mail_that_arrives_just_before_idle_begins(mail_servers, mail_account):
    """Each mail is APPENDed the moment the one before it is stored (seen by polling the
    database every 10 ms), when the worker is between its sync pass and its IDLE: every
    one must still be picked up within seconds, not at the next IDLE recheck."""
    with WorkerDatabase.create("sqlite") as db:
        worker = _setup(mail_servers, mail_account, db, idle=True, poll_seconds=3600)
        worker.start()
        try:
            with (
                mail_servers.imap(mail_account) as client,
                sqlite3.connect(db.name, timeout=30) as conn,
            ):
                for n in range(200):
                    message_id, raw = numbered_email(n, mail_account.address, tag="idle")
                    client.append("INBOX", raw)
                    deadline = time.monotonic() + (30 if n == 0 else 10)
                    while not conn.execute(
                        "SELECT 1 FROM tickets_message WHERE message_id = ?", (message_id,)
                    ).fetchone():
                        assert time.monotonic() < deadline, f"message {n} not stored in time"
                        time.sleep(0.01)
        finally:
            worker.stop()
