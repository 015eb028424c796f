"""`deskmail worker`: keep every active mailbox in sync and run the periodic jobs."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandParser

from deskmail.sync.jobs import periodic_jobs
from deskmail.sync.processor import InboxProcessor
from deskmail.sync.runner import MailboxRunner
from deskmail.sync.supervisor import Supervisor, worker_name


class Command(BaseCommand):
    help = "Sync the active mailboxes (IMAP IDLE or polling, POP3) and run the periodic jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--capacity", type=int, default=1000, help="most mailboxes to hold")
        parser.add_argument("--tick", type=float, default=2.0, help="seconds between checks")

    def handle(self, *args: object, capacity: int, tick: float, **options: object) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        owner = worker_name()
        processor = InboxProcessor(owner)
        supervisor = Supervisor(
            runner_factory=lambda mailbox_id, owner: MailboxRunner(
                mailbox_id, owner, on_accepted=processor.wake
            ),
            owner=owner,
            capacity=capacity,
            tick_seconds=tick,
            periodic_jobs=periodic_jobs(),
        )
        self.stdout.write(f"deskmail worker {supervisor.owner}: running (Ctrl-C stops)")
        processor.start()
        try:
            supervisor.run(stop)
        finally:
            processor.stop()
            processor.join(timeout=30)
