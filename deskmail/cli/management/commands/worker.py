"""`deskmail worker`: keep every active mailbox in sync and run the periodic jobs."""

from __future__ import annotations

import threading

from django.core.management.base import BaseCommand, CommandParser

from deskmail.core.channel import ChannelWatch, SwitchListener
from deskmail.core.crypto import unreadable_secrets
from deskmail.core.lifecycle import StopRequest
from deskmail.ingest import parsing
from deskmail.services.confirmations import expire_unconfirmed
from deskmail.services.handover import housekeeping
from deskmail.services.mailbox_admin import warn_sign_ins_ending
from deskmail.sync.jobs import every, periodic_jobs
from deskmail.sync.processor import InboxProcessor
from deskmail.sync.runner import MailboxRunner
from deskmail.sync.supervisor import Supervisor, worker_name


class Command(BaseCommand):
    help = "Sync the active mailboxes (IMAP IDLE or polling, POP3) and run the periodic jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--capacity", type=int, default=1000, help="most mailboxes to hold")
        parser.add_argument("--tick", type=float, default=2.0, help="seconds between checks")

    def handle(self, *args: object, capacity: int, tick: float, **options: object) -> None:
        request = StopRequest().install()
        for secret in unreadable_secrets():
            self.stderr.write(
                f"deskmail worker: {secret} cannot be decrypted with DESKMAIL_ENCRYPTION_KEYS; "
                "its mailbox fails until the key is set or the secret entered again"
            )
        owner = worker_name()
        processor = InboxProcessor(owner)
        # The channel switch: read once per tick, and heard of at once on PostgreSQL.
        channel = ChannelWatch(seconds=min(tick, 2.0))
        listener = SwitchListener(channel)
        supervisor = Supervisor(
            runner_factory=lambda mailbox_id, owner: MailboxRunner(
                mailbox_id, owner, on_accepted=processor.wake
            ),
            owner=owner,
            capacity=capacity,
            tick_seconds=tick,
            channel=channel,
            # Due transfers and snoozes move even when no console is open; OAuth2
            # sign-ins ending within days are warned about (hourly is soon enough).
            periodic_jobs=[
                *periodic_jobs(),
                every(15, housekeeping),
                every(3600, warn_sign_ins_ending),
                # Tickets whose new sender did not confirm in time are marked so.
                every(60, expire_unconfirmed),
            ],
        )
        self.stdout.write(f"deskmail worker {supervisor.owner}: running (Ctrl-C stops)")
        stop = threading.Event()
        running = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor")
        processor.start()
        listener.start()
        running.start()
        try:
            request.wait(until=_ended(running))
        finally:
            stop.set()  # here, in ordinary code: never inside the signal handler
            running.join()
            listener.stop()
            processor.stop()
            processor.join(timeout=30)
            parsing.close()
            request.done()
        self.stdout.write(f"deskmail worker {supervisor.owner}: stopped")


def _ended(thread: threading.Thread) -> threading.Event:
    """An event set when the thread ends by itself (a crash must not leave us waiting)."""
    ended = threading.Event()

    def watch() -> None:
        thread.join()
        ended.set()

    threading.Thread(target=watch, daemon=True, name="supervisor-watch").start()
    return ended
