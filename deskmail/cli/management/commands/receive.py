"""`deskmail receive`: accept forwarded mail over SMTP (or LMTP) for the mailboxes' addresses."""

from __future__ import annotations

import asyncio

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from django.core.management.base import BaseCommand, CommandParser

from deskmail.core.channel import ChannelWatch, SwitchListener
from deskmail.core.lifecycle import CHECK_S, StopRequest
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
        channel = ChannelWatch()
        listener = SwitchListener(channel)  # hears the switch at once on PostgreSQL
        handler = DeliveryHandler(on_accepted=processor.wake, channel=channel)

        # One handler for the command's whole life. The event loop's own signal handlers
        # are removed (back to the default, death by signal) when the loop closes, so a
        # second signal during the shutdown that follows would kill the process.
        stop = StopRequest().install()

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(
                lambda: protocol(handler, hostname="deskmail", **smtp_kwargs()), host, port
            )
            name = "LMTP" if lmtp else "SMTP"
            self.stdout.write(f"deskmail: receiving {name} on {host}:{port}")
            async with server:
                while not stop.requested:
                    await asyncio.sleep(CHECK_S)

        processor.start()
        listener.start()
        try:
            asyncio.run(serve())
        finally:
            listener.stop()
            processor.stop()
            processor.join(timeout=30)
            parsing.close()
            StopRequest.done()
        self.stdout.write("deskmail: receiving stopped")
