"""Parsing within a time and memory budget, in worker processes that use every core.

Mail comes from anyone, and a parse that runs away must cost one message, not
the engine: each message is parsed in a separate process (up to one per core,
`DESKMAIL_PARSE_PROCESSES`) limited to `DESKMAIL_PARSE_MEMORY_MB` of address
space, and given `DESKMAIL_PARSE_SECONDS`. A message over either is kept raw in
the quarantine with the reason (`OverBudget`, never retried on its own); the
process that ran away is killed and replaced, and the next message goes on at
once. Batches parse their messages in parallel before the steps run.

A batch's raw bytes are written to the raw store by the same processes, each
just before it parses the message (`keep_at`): writing thousands of small files
from a thread of the main process competes with the pipeline for the
interpreter's lock, and took longer than the parsing itself.

Each process has its own pipe, so killing one never disturbs the others. They
start from a clean interpreter (forkserver, with the parser preloaded):
forking a process that runs threads and holds database connections is not safe.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

from django.conf import settings

from deskmail.core.files import write_file_once
from deskmail.ingest import parse_worker
from deskmail.ingest.types import OverBudget
from deskmail.mail import ParsedMessage, parse_bytes

log = logging.getLogger(__name__)

# How long a new process may take to start (not counted against any message).
START_SECONDS = 60


class _Process:
    """One parsing process and the pipe to it."""

    def __init__(self, context: ForkServerContext, megabytes: int) -> None:
        self.connection, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=parse_worker.serve, args=(child, megabytes), daemon=True, name="parser"
        )
        self.process.start()
        child.close()
        if not self.connection.poll(START_SECONDS) or self.connection.recv() != parse_worker.READY:
            self.kill()
            raise RuntimeError("a parsing process did not start")

    def parse(
        self, raw: bytes, end_marker: str | None, seconds: float, keep_at: Path | None
    ) -> tuple[bool, ParsedMessage | str]:
        """Whether keep_at was written, and the result; raises TimeoutError past
        seconds, EOFError if the process died."""
        mode = settings.FILE_UPLOAD_PERMISSIONS
        self.connection.send((raw, end_marker, None if keep_at is None else str(keep_at), mode))
        if not self.connection.poll(seconds):
            raise TimeoutError
        written, result = self.connection.recv()
        assert isinstance(result, ParsedMessage | str)
        return written, result

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=10)
        self.connection.close()

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
        self.connection.close()


class _Pool:
    """Idle processes, lent to one parse at a time; at most `size` exist."""

    def __init__(self, size: int, megabytes: int) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["deskmail.ingest.parse_worker"])
        self.megabytes = megabytes
        self.idle: list[_Process] = []
        self.slots = threading.BoundedSemaphore(size)
        self.lock = threading.Lock()
        self.pid = os.getpid()

    def parse(
        self, raw: bytes, end_marker: str | None, seconds: float, keep_at: Path | None
    ) -> ParsedMessage:
        """Parse in an idle process; keep_at is written whatever the outcome."""
        with self.slots:
            with self.lock:
                worker = self.idle.pop() if self.idle else None
            if worker is None:
                worker = _Process(self.context, self.megabytes)
            try:
                written, result = worker.parse(raw, end_marker, seconds, keep_at)
            except TimeoutError:
                worker.kill()
                _keep(raw, keep_at, left_by=worker)
                raise OverBudget(
                    f"parsing this {len(raw):,}-byte message took longer than {seconds:g} s "
                    "(DESKMAIL_PARSE_SECONDS); it is kept raw"
                ) from None
            except (EOFError, OSError):
                worker.kill()
                _keep(raw, keep_at, left_by=worker)
                raise OverBudget(
                    f"the process parsing this {len(raw):,}-byte message died (beyond "
                    f"{self.megabytes} MiB, DESKMAIL_PARSE_MEMORY_MB?); it is kept raw"
                ) from None
            with self.lock:
                self.idle.append(worker)
        if not written:
            _keep(raw, keep_at)  # and raise what went wrong: the process could not say
        if result == parse_worker.MEMORY:
            raise OverBudget(
                f"parsing this {len(raw):,}-byte message needed more than {self.megabytes} MiB "
                "(DESKMAIL_PARSE_MEMORY_MB); it is kept raw"
            )
        assert isinstance(result, ParsedMessage)
        return result

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.stop()


def _keep(raw: bytes, keep_at: Path | None, left_by: _Process | None = None) -> None:
    """Write the raw bytes here, when a parsing process did not (or died doing so)."""
    if keep_at is None:
        return
    if left_by is not None and (pid := left_by.process.pid) is not None:
        for temporary in keep_at.parent.glob(f".{keep_at.name}.{pid}.*.tmp"):
            temporary.unlink(missing_ok=True)
    write_file_once(keep_at, raw, settings.FILE_UPLOAD_PERMISSIONS)


_lock = threading.Lock()
_pool: _Pool | None = None


def _get_pool() -> _Pool:
    global _pool
    with _lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = _Pool(settings.PARSE_PROCESSES, settings.PARSE_MEMORY_MB)
        return _pool


def close() -> None:
    """Stop the parsing processes (commands call this on their way out; tests too)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def parse(raw: bytes, end_marker: str | None, keep_at: Path | None = None) -> ParsedMessage:
    """Parse one message within the budget; OverBudget past it.

    With keep_at, the raw bytes are first written there (once: the name is
    their content's address), also when the parse then goes over the budget.
    """
    if not settings.PARSE_IN_PROCESSES:
        _keep(raw, keep_at)
        return parse_bytes(raw, end_marker=end_marker)
    return _get_pool().parse(raw, end_marker, settings.PARSE_SECONDS, keep_at)


def parse_many(
    raws: Sequence[bytes],
    end_marker: str | None,
    keep_at: Sequence[Path | None] | None = None,
) -> list[ParsedMessage | OverBudget]:
    """Parse messages in parallel, each within the budget: the result or its OverBudget.

    `keep_at` gives, message by message, where to write its raw bytes (see `parse`).
    """
    places = list(keep_at) if keep_at is not None else [None] * len(raws)
    assert len(places) == len(raws), "one place (or None) per message"

    def one(raw: bytes, place: Path | None) -> ParsedMessage | OverBudget:
        try:
            return parse(raw, end_marker, place)
        except OverBudget as exc:
            return exc

    if not settings.PARSE_IN_PROCESSES or len(raws) < 2:
        return [one(raw, place) for raw, place in zip(raws, places, strict=True)]
    with ThreadPoolExecutor(max_workers=settings.PARSE_PROCESSES) as threads:
        return list(threads.map(one, raws, places))
