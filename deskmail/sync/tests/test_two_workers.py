"""Two `deskmail worker` processes on one PostgreSQL database share the mailboxes evenly.

Each mailbox is synced by one worker at a time (seen both in the `sync_lease`
table and in Dovecot's own list of open IMAP sessions), and when a worker is
killed the other one takes its mailboxes over once their leases expire, with
mail still flowing and nothing stored twice.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deskmail.testing.mailservers import MailAccount, MailServers
from deskmail.testing.worker_process import (
    DatabaseUnavailable,
    WorkerDatabase,
    WorkerProcess,
    deliver,
    imap_sessions,
    mailbox_yaml,
    numbered_email,
    wait_until,
)

pytestmark = pytest.mark.servers

MAILBOXES = 6
LEASE_SECONDS = 4.0


@dataclass
class Sample:
    at: dt.datetime
    leases: dict[int, tuple[str, dt.datetime | None, dt.datetime | None]]
    sessions: dict[str, int]


@pytest.fixture
def postgres_db() -> Iterator[WorkerDatabase]:
    try:
        db = WorkerDatabase.create("postgres")
    except DatabaseUnavailable as exc:
        pytest.skip(f"two workers share mailboxes only through PostgreSQL: {exc}")
    db.lease_seconds = LEASE_SECONDS
    try:
        yield db
    finally:
        db.drop()


class Sampler(threading.Thread):
    """Reads the leases and Dovecot's IMAP sessions every 0.2 s until stopped."""

    def __init__(self, db: WorkerDatabase, servers: MailServers) -> None:
        super().__init__(daemon=True)
        self.db, self.servers = db, servers
        self.samples: list[Sample] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            rows = self.db.query(
                "SELECT mailbox_id, owner, expires_at, acquired_at, now() FROM sync_lease"
            )
            sessions = imap_sessions(self.servers)
            at = rows[0][4] if rows else dt.datetime.now(dt.UTC)
            leases = {
                mailbox: (owner, expires, acquired) for mailbox, owner, expires, acquired, _ in rows
            }
            self.samples.append(Sample(at, leases, sessions))
            self.halt.wait(0.2)

    def stop(self) -> list[Sample]:
        self.halt.set()
        self.join(timeout=10)
        return self.samples


def _owners(db: WorkerDatabase) -> dict[int, str]:
    """Mailbox id → the worker holding an unexpired lease on it."""
    return dict(
        db.query(
            "SELECT mailbox_id, owner FROM sync_lease WHERE owner <> '' AND expires_at > now()"
        )
    )


def _pid(owner: str) -> int:
    return int(owner.split(":")[-2])  # host:pid:suffix


def _send_round(
    servers: MailServers, accounts: list[MailAccount], tag: str, sent: list[str]
) -> None:
    for n, account in enumerate(accounts):
        message_id, raw = numbered_email(n, account.address, tag=tag)
        deliver(servers, account, raw)
        sent.append(message_id)


def _stored(db: WorkerDatabase) -> int:
    return db.scalar("SELECT COUNT(*) FROM tickets_message")


def test_two_workers_never_sync_one_mailbox_at_once_and_one_takes_over_the_other(
    mail_servers, postgres_db
):
    db = postgres_db
    accounts = [mail_servers.new_account() for _ in range(MAILBOXES)]
    yaml_text, secrets = mailbox_yaml(mail_servers, accounts, idle=True, poll_seconds=1)
    db.load_mailboxes(yaml_text, secrets)
    ids = dict(db.query("SELECT name, id FROM mailboxes_mailbox"))
    by_address = {ids[account.address]: account.address for account in accounts}

    first = WorkerProcess(db, name="first", capacity=4).start()
    second = WorkerProcess(db, name="second", capacity=MAILBOXES)
    sampler = Sampler(db, mail_servers)
    sent: list[str] = []
    try:
        wait_until(lambda: len(_owners(db)) == 4, 60, "the first worker holds 4 mailboxes")
        second.start()
        # The second takes its share (3) without the first restarting: the first hands
        # one mailbox over, though its capacity would let it keep 4.
        wait_until(
            lambda: sorted(Counter(_pid(o) for o in _owners(db).values()).values()) == [3, 3],
            60,
            "each worker holds 3 mailboxes",
        )
        sampler.start()
        owners = _owners(db)
        assert first.alive() and {_pid(o) for o in owners.values()} == {first.pid, second.pid}
        # Both sync: mail to every mailbox arrives.
        _send_round(mail_servers, accounts, "before", sent)
        wait_until(lambda: _stored(db) == len(sent), 60, "mail to every mailbox stored")

        first_pid = first.pid
        taken = {m for m, o in owners.items() if _pid(o) == first_pid}
        first.kill()
        killed_at = db.scalar("SELECT now()")
        wait_until(
            lambda: (
                {_pid(o) for o in _owners(db).values()} == {second.pid}
                and len(_owners(db)) == MAILBOXES
            ),
            60,
            f"the second worker holds every mailbox\n{second.log_tail()}",
        )
        _send_round(mail_servers, accounts, "after", sent)
        wait_until(lambda: _stored(db) == len(sent), 60, "mail still flows to every mailbox")
        sampled = len(sampler.samples)
        wait_until(lambda: len(sampler.samples) >= sampled + 5, 30, "five more samples")
    finally:
        samples = sampler.stop() if sampler.is_alive() else sampler.samples
        first.stop()
        second.stop()

    assert samples, "no sample was taken"
    for sample in samples:
        crowded = {user: n for user, n in sample.sessions.items() if n > 1}
        assert not crowded, f"two IMAP sessions on one mailbox at {sample.at}: {crowded}"
        for mailbox, (owner, _, _) in sample.leases.items():
            assert owner == "" or _pid(owner) in (first_pid, second.pid), (mailbox, owner)
    # Every sampled moment, each syncing account was synced by a worker holding its lease.
    for sample in samples:
        for mailbox, address in by_address.items():
            if sample.sessions.get(address):
                owner, _, _ = sample.leases[mailbox]
                assert owner, f"{address} synced without a lease at {sample.at}"

    # Taken over only after the dead worker's lease ran out.
    last_before_kill = {}
    for sample in samples:
        if sample.at < killed_at:
            for mailbox in taken:
                last_before_kill[mailbox] = sample.leases[mailbox][1]
    final = {m: lease for m, lease in samples[-1].leases.items()}
    for mailbox in taken:
        owner, _, acquired = final[mailbox]
        assert _pid(owner) == second.pid
        assert acquired is not None and acquired >= last_before_kill[mailbox], (
            f"mailbox {mailbox} claimed at {acquired}, before the lease ran out "
            f"at {last_before_kill[mailbox]}"
        )

    rows = db.query("SELECT message_id, COUNT(*) FROM tickets_message GROUP BY message_id")
    assert sorted(mid for mid, _ in rows) == sorted(sent)
    assert all(count == 1 for _, count in rows)
    assert db.scalar("SELECT COUNT(DISTINCT ticket_id) FROM tickets_message") == len(sent)
