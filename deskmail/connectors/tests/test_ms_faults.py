"""Exactly once over Graph and EWS: `deskmail worker` killed again and again during a sync.

The worker runs as a process of its own on a database of its own (as in
`deskmail/sync/tests/test_faults.py`) and reaches the fake Graph and EWS servers,
which run in this test process, over loopback. It is killed with SIGKILL at random
moments while it syncs, and restarted each time (and Graph throttles it and forgets
its delta tokens on the way); at the end every message put in the mailbox is stored
exactly once, in a ticket of its own, and marked read.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import yaml

from deskmail.connectors.tests.mshelpers import SUPPORT
from deskmail.testing.databases import postgres_required
from deskmail.testing.ewsserver import EwsServer
from deskmail.testing.graphserver import GraphServer
from deskmail.testing.worker_process import (
    DatabaseUnavailable,
    WorkerDatabase,
    WorkerProcess,
    numbered_email,
    wait_for_count,
    wait_until,
)

GRAPH_MESSAGES = 2000
EWS_MESSAGES = 1000
KILLS = 5
STALL = 240  # a killed engine's inbox lane is waited out for two minutes
SECRET = "DESKMAIL_TEST_MS_SECRET"


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


def load(db: WorkerDatabase, inbound: dict[str, object], secret: str) -> None:
    mailbox = {
        "name": "support",
        "key": "SUP",
        "address": SUPPORT,
        "status": "active",
        "purpose": "receive",
        "inbound": {"security": "none", "poll_seconds": 1, "password_env": SECRET, **inbound},
        "filters": {"sender_rate_limit": None},
    }
    db.load_mailboxes(yaml.safe_dump({"mailboxes": [mailbox]}), {SECRET: secret})


def stored(db: WorkerDatabase) -> int:
    return int(db.scalar("SELECT COUNT(*) FROM tickets_message"))


def kill_while_syncing(
    db: WorkerDatabase, worker: WorkerProcess, rng: random.Random, deliver_rest: Callable[[], None]
) -> None:
    """Deliver the rest in the background while the worker is killed and restarted KILLS times."""
    delivering = threading.Thread(target=deliver_rest, daemon=True)
    delivering.start()
    for _ in range(KILLS):
        # A restarted worker waits out the dead one's lease (3 s) first.
        time.sleep(rng.uniform(3.5, 7.5))
        before = stored(db)
        worker.kill()
        print(f"killed at {before} stored")
        worker.start()
    delivering.join(120)


def wait_for(db: WorkerDatabase, worker: WorkerProcess, expected: int) -> None:
    try:
        wait_for_count(lambda: stored(db), expected, STALL, "messages stored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; stored {stored(db)}\n{worker.log_tail()}") from None


def assert_exactly_once(db: WorkerDatabase, sent: list[str]) -> dict[str, object]:
    """Every sent Message-ID stored once in a ticket of its own; the cursor, for more checks."""
    counts = dict(db.query("SELECT message_id, COUNT(*) FROM tickets_message GROUP BY message_id"))
    assert sorted(counts) == sorted(sent), "stored Message-IDs differ from those delivered"
    assert set(counts.values()) == {1}
    assert db.scalar("SELECT COUNT(DISTINCT ticket_id) FROM tickets_message") == len(sent)
    numbers = [n for (n,) in db.query("SELECT number FROM tickets_ticket ORDER BY number")]
    assert numbers == list(range(1, len(sent) + 1)), "ticket numbers are not 1..N without gaps"
    assert db.scalar("SELECT COUNT(*) FROM ingest_quarantinedmessage") == 0
    assert db.scalar("SELECT COUNT(*) FROM ingest_inboxitem") == 0
    assert len(list((db.data_dir / "files" / "raw").rglob("*.eml"))) == len(sent)
    ((value,),) = db.query("SELECT value FROM sync_synccursor")
    cursor: dict[str, object] = json.loads(value) if isinstance(value, str) else value
    assert cursor["unacked"] == [] and cursor["done"] == []
    return cursor


def one_more(db: WorkerDatabase, worker: WorkerProcess, deliver: Callable[[bytes], object]) -> str:
    """One more mail, waited for: a whole further pass has run over the folder."""
    message_id, raw = numbered_email(0, SUPPORT, tag="sentinel")
    deliver(raw)
    query = "SELECT COUNT(*) FROM tickets_message WHERE message_id = %s"
    try:
        wait_until(lambda: db.scalar(query, (message_id,)) == 1, 60, "the sentinel stored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_tail()}") from None
    return message_id


def paced[T](deliver: Callable[[T], object], mails: list[T], per_second: float) -> None:
    """Deliver as mail trickles in, so that the kills fall on a sync in progress."""
    for n, raw in enumerate(mails):
        deliver(raw)
        if n % 20 == 19:
            time.sleep(20 / per_second)


def test_a_graph_first_sync_stores_every_message_once_through_kills_429s_and_expiry(
    worker_db: WorkerDatabase, rng: random.Random
) -> None:
    with GraphServer() as graph:
        graph.add_mailbox(SUPPORT)
        token = graph.issue_token(SUPPORT, ("Mail.ReadWrite",))
        load(
            worker_db,
            {"protocol": "graph", "graph_url": graph.graph_url, "auth": "oauth2",
             "after_fetch": "mark_read"},
            token,
        )  # fmt: skip
        mails = [numbered_email(n, SUPPORT) for n in range(GRAPH_MESSAGES)]
        half = GRAPH_MESSAGES // 2
        for _, raw in mails[:half]:
            graph.deliver(SUPPORT, raw)
        rest = [raw for _, raw in mails[half:]]

        def deliver_with_faults(n_raw: tuple[int, bytes]) -> None:
            n, raw = n_raw
            graph.deliver(SUPPORT, raw)
            if n == len(rest) // 3:
                graph.throttle(40, retry_after=1)  # a 429 storm
            elif n == 2 * len(rest) // 3:
                graph.expire_delta_tokens()  # the round in progress, and the last deltaLink

        worker = WorkerProcess(worker_db, tick=0.5).start()
        try:
            kill_while_syncing(
                worker_db,
                worker,
                rng,
                lambda: paced(deliver_with_faults, list(enumerate(rest)), 60),
            )
            wait_for(worker_db, worker, GRAPH_MESSAGES)
            sentinel = one_more(worker_db, worker, lambda raw: graph.deliver(SUPPORT, raw))
        finally:
            worker.stop()
        assert worker.starts == KILLS + 1
        cursor = assert_exactly_once(worker_db, [mid for mid, _ in mails] + [sentinel])
        assert cursor["delta_link"] and cursor["link"] is None
        assert "reading the folder again" in worker.log_path.read_text()  # the resync ran
        assert all(m.is_read for m in graph.messages(SUPPORT))


# The database's part is the same for every protocol and is broken on both databases by the
# Graph test and the IMAP ones; SQLite alone here keeps the suite's time in bounds (each of
# these waits out the killed engine's inbox lane, two minutes).
@pytest.mark.parametrize("worker_db", ["sqlite"], indirect=True)
def test_an_ews_sync_stores_every_message_once_when_the_worker_is_killed(
    worker_db: WorkerDatabase, rng: random.Random
) -> None:
    with EwsServer(mailbox=SUPPORT, username="agent", password="Secret-1") as ews:
        load(
            worker_db,
            {"protocol": "ews", "ews_url": ews.url, "username": "agent",
             "after_fetch": "mark_read"},
            "Secret-1",
        )  # fmt: skip
        mails = [numbered_email(n, SUPPORT) for n in range(EWS_MESSAGES)]
        half = EWS_MESSAGES // 2
        for _, raw in mails[:half]:
            ews.deliver(raw)
        worker = WorkerProcess(worker_db, tick=0.5).start()
        try:
            rest = [raw for _, raw in mails[half:]]
            kill_while_syncing(worker_db, worker, rng, lambda: paced(ews.deliver, rest, 30))
            wait_for(worker_db, worker, EWS_MESSAGES)
            sentinel = one_more(worker_db, worker, ews.deliver)
        finally:
            worker.stop()
        assert worker.starts == KILLS + 1
        cursor = assert_exactly_once(worker_db, [mid for mid, _ in mails] + [sentinel])
        assert cursor["sync_state"] and not cursor["full"]
        assert all(m.is_read for m in ews.messages())
