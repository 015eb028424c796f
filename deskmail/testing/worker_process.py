"""`deskmail worker` as a separate process on a database of its own, for fault tests.

The worker is started with `DATABASE_URL` and `DESKMAIL_DATA_DIR` pointing at
a database set up here through the public commands (`deskmail migrate`,
`deskmail mailboxes load`), so it can be killed with SIGKILL and restarted
like a real deployment, and the outcome is read with plain SQL.

    with WorkerDatabase.sqlite() as db:        # or WorkerDatabase.postgres()
        db.load_mailboxes(mailbox_yaml(servers, accounts, poll_seconds=1))
        worker = WorkerProcess(db, tick=0.5).start()
        ...
        worker.kill()
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from deskmail.testing.mailservers import MailAccount, MailServers

# The server of TEST_DB (make test), or the local default.
POSTGRES_SERVER = os.environ.get("DESKMAIL_TEST_POSTGRES") or (
    os.environ["TEST_DB"].rsplit("/", 1)[0]
    if os.environ.get("TEST_DB")
    else "postgres://postgres@127.0.0.1:5432"
)
DESKMAIL = str(Path(sys.executable).with_name("deskmail"))


class DatabaseUnavailable(RuntimeError):
    """The database server cannot be reached; the reason is the message."""


class WorkerDatabase:
    """A fresh database for worker processes: a SQLite file, or a PostgreSQL database."""

    def __init__(self, kind: str, data_dir: Path, url: str | None) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.url = url
        self.name = url.rsplit("/", 1)[1] if url else str(data_dir / "deskmail.sqlite3")
        self.encryption_key = Fernet.generate_key().decode()
        self.lease_seconds = 3.0

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def create(cls, kind: str) -> WorkerDatabase:
        """kind is "sqlite" or "postgres"; PostgreSQL raises DatabaseUnavailable when down."""
        data_dir = Path(tempfile.mkdtemp(prefix="dm-worker-"))
        if kind == "sqlite":
            db = cls("sqlite", data_dir, None)
        else:
            name = f"deskmail_fault_{uuid.uuid4().hex[:10]}"
            try:
                _postgres_admin(f'CREATE DATABASE "{name}"')
            except DatabaseUnavailable:
                shutil.rmtree(data_dir, ignore_errors=True)
                raise
            db = cls("postgres", data_dir, f"{POSTGRES_SERVER}/{name}")
        try:
            db.deskmail("migrate", "--no-input", "-v", "0")
        except BaseException:
            db.drop()
            raise
        return db

    def __enter__(self) -> WorkerDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def drop(self) -> None:
        if self.kind == "postgres":
            _postgres_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a deskmail process needs to use this database."""
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(
            DESKMAIL_DATA_DIR=str(self.data_dir),
            DESKMAIL_ENCRYPTION_KEYS=self.encryption_key,
            DESKMAIL_SECRET_KEY="worker-process-tests-only-" + "x" * 40,
            DESKMAIL_LEASE_SECONDS=str(self.lease_seconds),
            DJANGO_SETTINGS_MODULE="deskmail.settings",
            PYTHONUNBUFFERED="1",
        )
        if self.url:
            env["DATABASE_URL"] = self.url
        env.update(extra)
        return env

    def deskmail(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run one `deskmail` command on this database; its output, or an error with it."""
        done = subprocess.run(
            [DESKMAIL, *args],
            env=self.env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"deskmail {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def load_mailboxes(self, yaml_text: str, secrets: dict[str, str]) -> None:
        path = self.data_dir / "mailboxes.yaml"
        path.write_text(yaml_text)
        self.deskmail("mailboxes", "load", str(path), env=secrets)

    # -- reading ----------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement; write placeholders as %s for both databases.

        The tests read while they break the database on purpose (sessions
        terminated, a machine busy with the worker): a reading that cannot
        connect is tried again for up to 30 s, never taken as an answer.
        """
        if self.kind == "sqlite":
            with _sqlite(self.name, timeout=30) as conn:
                return conn.execute(sql.replace("%s", "?"), tuple(params)).fetchall()
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                assert self.url is not None
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    return conn.execute(sql.encode(), tuple(params)).fetchall()
            except psycopg.OperationalError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.query(sql, params)[0][0]

    # -- outages ----------------------------------------------------------------------

    def outage(self, seconds: float) -> None:
        """Make the database unusable for the worker for about `seconds`.

        SQLite: another connection holds an exclusive lock, so every write waits
        (and one waiting longer than the busy timeout fails). PostgreSQL: every
        session on the database is terminated, again and again.
        """
        deadline = time.monotonic() + seconds
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.name, timeout=30, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                time.sleep(max(0.0, deadline - time.monotonic()))
                conn.execute("COMMIT")
            finally:
                conn.close()
            return
        while time.monotonic() < deadline:
            _postgres_admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            time.sleep(0.05)


def _sqlite(path: str, timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=timeout)


def _postgres_admin(sql: str, params: Sequence[Any] = ()) -> None:
    """One statement on the server's `postgres` database, outside any transaction."""
    import psycopg

    try:
        conn = psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"PostgreSQL at {POSTGRES_SERVER} unreachable: {exc}") from exc
    with conn:
        conn.execute(sql.encode(), tuple(params))


class WorkerProcess:
    """One `deskmail worker` process; its output goes to a log file in the data folder."""

    def __init__(
        self, db: WorkerDatabase, *, tick: float = 0.5, name: str = "worker", capacity: int = 1000
    ) -> None:
        self.db = db
        self.tick = tick
        self.capacity = capacity
        self.log_path = db.data_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> WorkerProcess:
        assert self.process is None or self.process.poll() is not None, "already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(
                [DESKMAIL, "worker", "--tick", str(self.tick), "--capacity", str(self.capacity)],
                env=self.db.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released, a transaction cut wherever it was."""
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait (SIGKILL after timeout); the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def mailbox_yaml(
    servers: MailServers, accounts: Iterable[MailAccount], **inbound: object
) -> tuple[str, dict[str, str]]:
    """A `deskmail mailboxes load` file for these Dovecot accounts, and the secrets' env.

    Plain IMAP on loopback; `inbound` overrides settings (idle, poll_seconds...).
    Every sender is accepted as often as it writes (no rate limit).
    """
    import yaml

    mailboxes = []
    secrets = {}
    for n, account in enumerate(accounts, 1):
        variable = f"DESKMAIL_TEST_SECRET_{n}"
        secrets[variable] = account.password
        mailboxes.append(
            {
                "name": account.address,
                "key": f"M{n}",
                "address": account.address,
                "status": "active",
                "purpose": "receive",
                "inbound": {
                    "protocol": "imap",
                    "host": servers.host,
                    "port": servers.ports["imap"],
                    "security": "none",
                    "username": account.address,
                    "password_env": variable,
                    "poll_seconds": 1,
                    **inbound,
                },
                "filters": {"sender_rate_limit": None},
            }
        )
    return yaml.safe_dump({"mailboxes": mailboxes}, sort_keys=False), secrets


def numbered_email(n: int, to: str, *, tag: str = "fault") -> tuple[str, bytes]:
    """A small new mail from its own sender, and its Message-ID (without brackets)."""
    message_id = f"{tag}-{n}-{uuid.uuid4().hex[:8]}@customer.test"
    raw = (
        f"From: Customer {n} <customer{n}@customer.test>\r\n"
        f"To: {to}\r\nSubject: {tag} question {n}\r\n"
        f"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{message_id}>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello,\r\n\r\nthis is question {n}.\r\n"
    ).encode()
    return message_id, raw


def fill_numbered(
    servers: MailServers, accounts: Sequence[MailAccount], per_mailbox: int, *, tag: str
) -> list[str]:
    """Put `per_mailbox` numbered mails straight into each account's INBOX; their Message-IDs."""
    sent: list[str] = []
    for m, account in enumerate(accounts):
        mails = [numbered_email(m * per_mailbox + i, account.address, tag=tag)
                 for i in range(per_mailbox)]  # fmt: skip
        servers.fill_maildir(account, [raw for _, raw in mails])
        sent += [message_id for message_id, _ in mails]
    return sent


def deliver(servers: MailServers, account: MailAccount, raw: bytes) -> None:
    """Deliver over LMTP, as a mail server does: no IMAP session of the account is opened."""
    with smtplib.LMTP(servers.host, servers.ports["lmtp"], timeout=10) as lmtp:
        lmtp.sendmail("customer@customer.test", [account.address], raw)


def imap_sessions(servers: MailServers) -> dict[str, int]:
    """How many IMAP sessions each user has open in Dovecot right now (`doveadm who`)."""
    done = subprocess.run(
        ["doveadm", "-c", str(servers.dir / "dovecot" / "dovecot.conf"), "who", "-1"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    sessions: dict[str, int] = {}
    for line in done.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "imap":
            sessions[fields[0]] = sessions.get(fields[0], 0) + 1
    return sessions


def append_all(servers: MailServers, account: MailAccount, messages: Iterable[bytes]) -> int:
    """APPEND every message over one IMAP connection; how many."""
    count = 0
    with servers.imap(account) as client:
        for raw in messages:
            client.append("INBOX", raw)
            count += 1
    return count


@contextmanager
def in_background(work: Callable[[], object]) -> Iterator[threading.Thread]:
    """Run work in a thread; re-raise its exception when the block ends."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def wait_until(check: Callable[[], object], timeout: float, what: str) -> object:
    """Poll check() every 0.1 s until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)


def wait_for_count(count: Callable[[], int], expected: int, stall: float, what: str) -> int:
    """Poll count() until it reaches expected; fail only when it stops growing for stall seconds.

    A long sync on a busy machine is slow, not hung: the bound is on a stall, so the
    test waits as long as mail keeps arriving and fails as soon as it no longer does.
    """
    best = count()
    progressed = time.monotonic()
    while best < expected:
        if time.monotonic() - progressed > stall:
            raise AssertionError(f"no progress for {stall:.0f} s at {best} of {expected}: {what}")
        time.sleep(0.1)
        now = count()
        if now > best:
            best, progressed = now, time.monotonic()
    return best
