"""A worker with many mailboxes stays within a few database connections.

PostgreSQL refuses connections beyond its limit ("too many clients already"). Here
the database allows 8, and one worker syncs 40 mailboxes that all have 25 mails
waiting when it starts: one connection per mailbox thread would fail some of them
(with 100 slots the worker's log fills with "too many connections").
"""

from __future__ import annotations

import threading

import pytest

from deskmail.sync import dbslots
from deskmail.testing.worker_process import (
    DatabaseUnavailable,
    WorkerDatabase,
    WorkerProcess,
    _postgres_admin,
    fill_numbered,
    mailbox_yaml,
    wait_until,
)

MAILBOXES = 40
PER_MAILBOX = 25
CONNECTION_LIMIT = 8
# The supervisor, the jobs, the inbox processor, the switch listener: one each; the
# mailbox threads share two; this test reads with one more.
SLOTS = "2"


def _limit_connections(db: WorkerDatabase) -> None:
    """Connect as a role of its own (a superuser would be exempt) to a database allowing 8."""
    import psycopg

    role = "deskmail_slots_test"
    _postgres_admin(
        f"DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    _postgres_admin(f'ALTER DATABASE "{db.name}" CONNECTION LIMIT {CONNECTION_LIMIT}')
    assert db.url is not None
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}".encode())
        conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}".encode())
    db.url = db.url.replace("://postgres@", f"://{role}@")


def test_no_more_threads_than_slots_use_the_database_at_once():
    inside, most = 0, 0
    changed = threading.Condition()
    go_on = threading.Event()

    def work() -> None:
        nonlocal inside, most
        with dbslots.database_slot():
            with changed:
                inside += 1
                most = max(most, inside)
                changed.notify_all()
            go_on.wait()  # hold the slot until every slot is taken
            with changed:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(dbslots.SLOTS + 4)]
    for thread in threads:
        thread.start()
    with changed:
        assert changed.wait_for(lambda: inside == dbslots.SLOTS, timeout=30)
    go_on.set()
    for thread in threads:
        thread.join()
    assert most == dbslots.SLOTS


@pytest.mark.servers
def test_forty_mailboxes_sync_through_a_database_that_allows_eight_connections(
    mail_servers, monkeypatch
):
    try:
        db = WorkerDatabase.create("postgres")
    except DatabaseUnavailable as exc:
        pytest.skip(f"the connection limit is PostgreSQL's: {exc}")
    try:
        _limit_connections(db)
        accounts = [mail_servers.new_account() for _ in range(MAILBOXES)]
        sent = fill_numbered(mail_servers, accounts, PER_MAILBOX, tag="slots")
        yaml_text, secrets = mailbox_yaml(mail_servers, accounts, idle=True)
        db.load_mailboxes(yaml_text, secrets)
        monkeypatch.setenv("DESKMAIL_WORKER_DB_CONNECTIONS", SLOTS)
        worker = WorkerProcess(db, tick=0.5, name="slots").start()
        try:
            wait_until(
                lambda: db.scalar("SELECT COUNT(*) FROM tickets_message") == len(sent),
                180,
                f"every mailbox's message stored\n{worker.log_tail()}",
            )
            failing = db.query(
                "SELECT name, last_error FROM mailboxes_mailbox WHERE consecutive_failures > 0"
            )
        finally:
            worker.stop()
        log = worker.log_tail(400)
        assert failing == []
        assert "too many" not in log and "crashed" not in log, log
        stored = db.query("SELECT message_id FROM tickets_message")
        assert sorted(mid for (mid,) in stored) == sorted(sent)
    finally:
        db.drop()
