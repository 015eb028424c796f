"""The forwarding receiver, spoken to over real SMTP and LMTP on loopback."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from deskmail.core.channel import ChannelWatch
from deskmail.ingest.inbox import drain
from deskmail.ingest.models import InboxItem
from deskmail.services import channel
from deskmail.services.access import SYSTEM
from deskmail.sync.receiver import DeliveryHandler, smtp_kwargs
from deskmail.testing.builders import make_email, make_mailbox, message_id_of
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import Delivery, Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Controller(Controller):
    def __init__(self, lmtp: bool) -> None:
        # The switch read at every message here; the command reads it every couple of seconds.
        handler = DeliveryHandler(channel=ChannelWatch(seconds=0))
        super().__init__(handler, hostname="127.0.0.1", port=_free_port())
        self.lmtp = lmtp

    def factory(self) -> SMTP:
        protocol = LMTP if self.lmtp else SMTP
        return protocol(self.handler, hostname="deskmail", **smtp_kwargs())


@pytest.fixture(params=[False, True], ids=["smtp", "lmtp"])
def receiver(request) -> Iterator[tuple[int, bool]]:
    controller = _Controller(lmtp=request.param)
    controller.start()
    yield controller.port, request.param
    controller.stop()


def _client(port: int, lmtp: bool) -> smtplib.SMTP:
    return smtplib.LMTP("127.0.0.1", port) if lmtp else smtplib.SMTP("127.0.0.1", port)


def test_it_rejects_an_unknown_recipient_at_rcpt(receiver):
    port, lmtp = receiver
    make_mailbox()
    with _client(port, lmtp) as client:
        client.ehlo()  # LHLO for LMTP
        client.mail("ann@acme.example")
        code, reply = client.rcpt("nobody@example.com")
    assert code == 550 and b"5.1.1" in reply


def test_it_stores_forwarded_mail_in_the_inbox_before_answering(receiver):
    port, lmtp = receiver
    make_mailbox()
    raw = make_email(to="support@example.com", subject="Forwarded to us")
    with _client(port, lmtp) as client:
        refused = client.sendmail("ann@acme.example", ["support@example.com"], raw)
    assert refused == {}
    # 250 came after the commit: the mail is safe in the inbox as soon as the client returns,
    # and the pipeline makes it a ticket.
    (row,) = InboxItem.objects.all()
    assert message_id_of(raw).encode() in read_raw(row.raw_sha256)  # as SMTP carried it
    assert row.delivered_to == "support@example.com"
    drain()
    assert Ticket.objects.get().title == "Forwarded to us"


def test_it_keeps_one_message_for_two_of_our_addresses_and_lists_both_deliveries(receiver):
    port, lmtp = receiver
    make_mailbox()
    make_mailbox(name="sales", key="SAL", address="sales@example.com")
    raw = make_email(to="support@example.com", cc="sales@example.com")
    if lmtp:  # one recipient per LMTP transaction: smtplib reads only one reply
        for rcpt in ("support@example.com", "sales@example.com"):
            with _client(port, lmtp) as client:
                client.sendmail("ann@acme.example", [rcpt], raw)
    else:
        with _client(port, lmtp) as client:
            client.sendmail("ann@acme.example", ["support@example.com", "sales@example.com"], raw)
    drain()
    message = Message.objects.get(message_id=message_id_of(raw))
    assert Ticket.objects.count() == 1
    addresses = sorted(Delivery.objects.filter(message=message).values_list("address", flat=True))
    assert addresses == ["sales@example.com", "support@example.com"]


def _switch(on: bool) -> None:
    channel.switch(SYSTEM, on, "" if on else "moving servers")


def test_while_the_channel_is_off_it_defers_forwarded_mail_and_takes_it_when_on(receiver):
    port, lmtp = receiver
    make_mailbox()
    raw = make_email(to="support@example.com", subject="Sent while off")
    _switch(False)
    with _client(port, lmtp) as client:
        client.ehlo()
        client.mail("ann@acme.example")
        code, reply = client.rcpt("support@example.com")
    # A temporary failure: the sending server keeps the mail and tries again later.
    assert code == 451 and b"4.3.2" in reply and b"switched off" in reply
    assert InboxItem.objects.count() == 0

    _switch(True)
    with _client(port, lmtp) as client:
        refused = client.sendmail("ann@acme.example", ["support@example.com"], raw)
    assert refused == {}
    drain()
    assert list(Ticket.objects.values_list("title", flat=True)) == ["Sent while off"]


def test_switched_off_between_rcpt_and_data_the_mail_is_deferred_too(receiver):
    port, lmtp = receiver
    make_mailbox()
    with _client(port, lmtp) as client:
        client.ehlo()
        client.mail("ann@acme.example")
        assert client.rcpt("support@example.com")[0] == 250
        _switch(False)
        code, reply = client.data(make_email(to="support@example.com"))
    assert code == 451 and b"4.3.2" in reply
    assert InboxItem.objects.count() == 0
