"""`deskmail receive`: accept forwarded mail over SMTP (or LMTP) for the mailboxes' addresses."""

from __future__ import annotations

import asyncio
import signal

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from django.core.management.base import BaseCommand, CommandParser

from deskmail.core.lifecycle import StopRequest
from deskmail.ingest import parsing
from deskmail.sync.processor import InboxProcessor
from deskmail.sync.receiver import DeliveryHandler, smtp_kwargs
from deskmail.sync.supervisor import worker_name


class Command(BaseCommand):
    help = "Receive forwarded mail over SMTP or LMTP and feed it to the pipeline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)
        parser.add_argument("--lmtp", action="store_true", help="speak LMTP instead of SMTP")

    def handle(self, *args: object, host: str, port: int, lmtp: bool, **options: object) -> None:
        protocol = LMTP if lmtp else SMTP
        # The mail it stores goes through the pipeline here too, so that a forwarding
        # address works without a worker; workers share the inbox safely.
        processor = InboxProcessor(f"receive:{worker_name()}")
        handler = DeliveryHandler(on_accepted=processor.wake)

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            stopping = asyncio.Event()
            # The loop's own signal handling: the callback runs as an ordinary task step,
            # so any number of signals, at any moment, only sets the event again.
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stopping.set)
            server = await loop.create_server(
                lambda: protocol(handler, hostname="deskmail", **smtp_kwargs()), host, port
            )
            name = "LMTP" if lmtp else "SMTP"
            self.stdout.write(f"deskmail: receiving {name} on {host}:{port}")
            async with server:
                await stopping.wait()

        processor.start()
        try:
            asyncio.run(serve())
        finally:
            processor.stop()
            processor.join(timeout=30)
            parsing.close()
            StopRequest.done()
        self.stdout.write("deskmail: receiving stopped")
