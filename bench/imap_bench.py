"""IMAP first sync: fetch a 10,000-message folder from Dovecot, no database.

Times `ImapConnector.fetch()` from a zero checkpoint to the last message
(connect, login, SELECT, SEARCH, batched UID FETCH of every message), over
plain IMAP and implicit TLS, and with different batch sizes; then an
incremental sync that finds nothing new. Dovecot runs on loopback, so this
measures the client and the server, not a network.
"""

from __future__ import annotations

import random
import statistics
import time

from deskmail.connectors.credentials import Password
from deskmail.connectors.imap import ImapConnector
from deskmail.connectors.settings import InboundConfig
from deskmail.testing.mailservers import MailAccount, MailServers

MESSAGES = 10_000
RUNS = 3
WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()


def _message(n: int, rng: random.Random) -> bytes:
    lines = rng.randint(5, 120)  # a few hundred bytes to ~10 KB, like support mail
    body = "\r\n".join(" ".join(rng.choices(WORDS, k=10)) for _ in range(lines))
    return (
        f"From: Customer {n} <customer{n}@customer.test>\r\n"
        f"To: support@helpdesk.test\r\nSubject: Order {n} question\r\n"
        f"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{n}@customer.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _first_sync(
    config: InboundConfig, account: MailAccount, cafile: str, batch: int
) -> tuple[float, int, int]:
    started = time.perf_counter()
    with ImapConnector(
        config, Password(account.password), ca_file=cafile, batch_size=batch
    ) as imap:
        count = size = 0
        for message in imap.fetch({}).messages():
            count += 1
            size += len(message.raw)
    return time.perf_counter() - started, count, size


def run() -> str:
    rng = random.Random(42)
    rows = []
    with MailServers(postfix=False) as servers:
        account = servers.new_account()
        started = time.perf_counter()
        servers.fill_maildir(account, (_message(n, rng) for n in range(MESSAGES)))
        with servers.imap(account) as client:  # let Dovecot build its index once
            client.select_folder("INBOX", readonly=True)
        prepared = time.perf_counter() - started

        for security, port, batch in (
            ("none", "imap", 100),
            ("none", "imap", 500),
            ("none", "imap", 2000),
            ("ssl", "imaps", 500),
        ):
            config = InboundConfig(
                protocol="imap", host="127.0.0.1", port=servers.ports[port], security=security,
                username=account.address,
            )  # fmt: skip
            times = []
            for _ in range(RUNS):
                seconds, count, size = _first_sync(config, account, servers.cafile, batch)
                assert count == MESSAGES, f"fetched {count} of {MESSAGES}"
                times.append(seconds)
            best, median = min(times), statistics.median(times)
            rows.append(
                f"| {security} | {batch} | {median:.2f} s | {best:.2f} s | "
                f"{MESSAGES / median:,.0f} | {size / median / 2**20:.1f} |"
            )

        config = InboundConfig(
            protocol="imap", host="127.0.0.1", port=servers.ports["imap"], security="none",
            username=account.address,
        )  # fmt: skip
        with ImapConnector(config, Password(account.password)) as imap:
            cursor: dict[str, object] = {}
            for batch in imap.fetch({}).batches:
                cursor = batch.cursor
            started = time.perf_counter()
            for _ in range(20):
                assert list(imap.fetch(cursor).messages()) == []
            nothing_new = (time.perf_counter() - started) / 20

    return "\n".join(
        [
            "## IMAP first sync",
            "",
            f"`ImapConnector.fetch()` from an empty cursor over a folder of {MESSAGES:,}",
            f"unseen messages ({size / 2**20:.0f} MiB, {size // MESSAGES:,} bytes on average)",
            "in Dovecot on loopback: connect, log in, SELECT, SEARCH and batched UID FETCH,",
            f"no database. Median and best of {RUNS} runs. Filling and indexing the folder",
            f"took {prepared:.1f} s and is not counted.",
            "",
            "| security | batch | median | best | messages/s | MiB/s |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "An incremental sync that finds nothing new in the same folder (SELECT and a UID",
            f"SEARCH on a logged-in session) takes {nothing_new * 1000:.1f} ms.",
            "",
        ]
    )


if __name__ == "__main__":
    print(run())
