"""`deskmail receive`: accept forwarded mail over SMTP (or LMTP) for the mailboxes' addresses."""

from __future__ import annotations

import asyncio

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from django.core.management.base import BaseCommand, CommandParser

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
        processor.start()
        handler = DeliveryHandler(on_accepted=processor.wake)

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(
                lambda: protocol(handler, hostname="deskmail", **smtp_kwargs()), host, port
            )
            name = "LMTP" if lmtp else "SMTP"
            self.stdout.write(f"deskmail: receiving {name} on {host}:{port}")
            async with server:
                await server.serve_forever()

        try:
            asyncio.run(serve())
        except KeyboardInterrupt:
            pass
        finally:
            processor.stop()
            processor.join(timeout=30)
