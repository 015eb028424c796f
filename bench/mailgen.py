"""A deterministic generator of realistic support mail, for benchmarks and load tests.

The same seed and count give the same bytes. What comes out looks like a
support mailbox's archive: customers open threads of 1 to 10 messages and
an agent or the customer answers, with "Re:"/"RE:"/"AW:" prefixes, quoted
history (the "On ... wrote:" style and Outlook's "-----Original
Message-----" style, whose replies carry no References), multipart/
alternative bodies with HTML, about 10% with a small PDF or PNG attached,
some out-of-office auto-replies and some delivery-status bounces. Threads
interleave in time as they do in a real mailbox.

    python -m bench.mailgen 20000 archive.mbox [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path

SUPPORT = ("Example Support", "support@example.com")
AGENTS = ["Dana Fischer", "Sam Okafor", "Lena Novak", "Jon Berg"]
FIRST = [
    "Anna",
    "Ben",
    "Chloé",
    "David",
    "Emre",
    "Fatima",
    "Georg",
    "Hana",
    "Ivan",
    "Júlia",
    "Kenji",
    "Laura",
    "Mehdi",
    "Nora",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tomás",
]
LAST = [
    "Müller",
    "Smith",
    "García",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Dubois",
    "Jensen",
    "Silva",
    "Öztürk",
    "Tanaka",
    "Brown",
    "Novák",
    "Weber",
    "Costa",
    "Ivanova",
]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "gmx.de",
    "web.de",
    "yahoo.com",
    "acme-corp.com",
    "globex.io",
    "initech.net",
    "umbrella.co.uk",
    "stark-industries.com",
    "wayne.example",
]
TOPICS = [
    "Cannot log in to my account",
    "Invoice {n} is wrong",
    "Order {n} has not arrived",
    "Refund for order {n}",
    "Password reset link expired",
    "App crashes when exporting PDF",
    "Question about the Pro plan",
    "Change billing address",
    "Two-factor codes not received",
    "Data import fails with error {n}",
    "Feature request: dark mode",
    "Problem mit der Rechnung {n}",
    "Lieferung {n} beschädigt",
    "Cancel my subscription",
    "API returns 500 for /v2/items",
    "Slow sync since the last update",
]
OPENINGS = [
    "Hello,\n\n",
    "Hi there,\n\n",
    "Dear support team,\n\n",
    "Hallo zusammen,\n\n",
    "Good morning,\n\n",
]
SENTENCES = [
    "Since yesterday I get an error whenever I try to open the dashboard.",
    "I have already cleared the cache and tried another browser.",
    "The order number is in the subject; the payment went through on Monday.",
    "Could you please check what happened and let me know?",
    "This is quite urgent for us because the whole team is blocked.",
    "I attached a screenshot of the message I see.",
    "From what I can tell the problem started after the update.",
    "We are on the business plan with 25 seats.",
    "Ich habe die Rechnung nochmal geprüft, der Betrag stimmt nicht.",
    "The export worked fine last week with the same file.",
    "Our IT department says nothing changed on our side.",
    "Please call me back at your earliest convenience.",
]
AGENT_SENTENCES = [
    "Thank you for reaching out, and sorry for the trouble.",
    "I have looked into your account and found the cause.",
    "Could you send us the exact time when it happened?",
    "We have deployed a fix; please try again and tell us if it works.",
    "I have issued the refund; it will show up within 5 business days.",
    "From our logs it looks like the session expired during the upload.",
    "I have forwarded this to our engineering team.",
]
CLOSINGS = [
    "\n\nBest regards,\n{name}\n",
    "\n\nThanks,\n{name}\n",
    "\n\nViele Grüße\n{name}\n",
    "\n\nCheers,\n{name}\n\n-- \n{name}\nSent from my phone\n",
]

ATTACHMENT_SHARE = 0.10
AUTOREPLY_SHARE = 0.03
BOUNCE_SHARE = 0.02
HTML_SHARE = 0.4
OUTLOOK_SHARE = 0.25
CONCURRENT_THREADS = 40
_POLICY = SMTP.clone(linesep="\n")


@dataclass(slots=True)
class _Sent:
    message_id: str
    sender: tuple[str, str]
    date: dt.datetime
    body: str


@dataclass(slots=True)
class _Thread:
    number: int
    customer: tuple[str, str]
    subject: str
    length: int
    outlook: bool
    prefix: str
    sent: list[_Sent] = field(default_factory=list)


class MailGenerator:
    """Yields raw messages (bytes, CRLF-free) one by one; deterministic for a given seed."""

    def __init__(self, seed: int = 0, start: dt.datetime | None = None) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.clock = start or dt.datetime(2025, 1, 6, 8, 0, tzinfo=dt.UTC)
        self.serial = 0
        self.threads = 0

    def messages(self, count: int) -> Iterator[bytes]:
        rng = self.rng
        active: list[_Thread] = []
        produced = 0
        while produced < count:
            while len(active) < CONCURRENT_THREADS:
                active.append(self._new_thread())
            thread = active[rng.randrange(len(active))]
            self.clock += dt.timedelta(seconds=rng.randint(20, 900))
            roll = rng.random()
            if thread.sent and roll < AUTOREPLY_SHARE:
                yield self._autoreply(thread)
            elif thread.sent and roll < AUTOREPLY_SHARE + BOUNCE_SHARE:
                yield self._bounce(thread)
            else:
                yield self._thread_message(thread)
                if len(thread.sent) >= thread.length:
                    active.remove(thread)
            produced += 1

    def _new_thread(self) -> _Thread:
        rng = self.rng
        self.threads += 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = rng.choice(DOMAINS)
        local = f"{first}.{last}".lower().encode("ascii", "ignore").decode() or "customer"
        address = f"{local}{rng.randint(1, 999)}@{domain}"
        subject = rng.choice(TOPICS).format(n=rng.randint(10000, 99999))
        outlook = rng.random() < OUTLOOK_SHARE
        prefix = "AW: " if domain.endswith(".de") else ("RE: " if outlook else "Re: ")
        return _Thread(
            number=self.threads,
            customer=(f"{first} {last}", address),
            subject=subject,
            length=rng.randint(1, 10),
            outlook=outlook,
            prefix=prefix,
        )

    def _message_id(self, domain: str) -> str:
        self.serial += 1
        return f"<{self.seed}.{self.serial}.{self.rng.getrandbits(40):x}@{domain}>"

    def _body(self, name: str, agent: bool) -> str:
        rng = self.rng
        pool = AGENT_SENTENCES if agent else SENTENCES
        text = rng.choice(OPENINGS) + " ".join(rng.sample(pool, rng.randint(1, 4)))
        if rng.random() < 0.3:
            text += "\n\n" + " ".join(rng.sample(pool, rng.randint(1, 3)))
        return text + rng.choice(CLOSINGS).format(name=name)

    def _thread_message(self, thread: _Thread) -> bytes:
        rng = self.rng
        index = len(thread.sent)
        agent = index % 2 == 1 and rng.random() < 0.85
        if agent:
            sender = (rng.choice(AGENTS), SUPPORT[1])
            recipients = [thread.customer]
        else:
            sender = thread.customer
            recipients = [SUPPORT]
        domain = sender[1].split("@", 1)[1]
        body = self._body(sender[0], agent)
        message = EmailMessage()
        message["From"] = formataddr(sender)
        message["To"] = ", ".join(formataddr(r) for r in recipients)
        if not agent and rng.random() < 0.15:
            colleague = f"colleague{rng.randint(1, 50)}@{thread.customer[1].split('@')[1]}"
            message["Cc"] = colleague
        message["Date"] = format_datetime(self.clock)
        message_id = self._message_id(domain)
        message["Message-ID"] = message_id
        if thread.sent:
            parent = thread.sent[-1]
            message["Subject"] = thread.prefix + thread.subject
            message["In-Reply-To"] = parent.message_id
            if thread.outlook:
                message["Thread-Topic"] = thread.subject
                message["Thread-Index"] = f"Ad{thread.number:010x}{index:04x}=="
            else:
                refs = [s.message_id for s in thread.sent]
                message["References"] = " ".join(refs[:1] + refs[-9:] if len(refs) > 10 else refs)
            body += self._quote(parent, thread.outlook, recipients[0])
        else:
            message["Subject"] = thread.subject
        if thread.outlook:
            message["X-Mailer"] = "Microsoft Outlook 16.0"
        if rng.random() < 0.2:
            message["Importance"] = "high"
        message.set_content(body)
        if rng.random() < HTML_SHARE:
            message.add_alternative(_html(body), subtype="html")
        if rng.random() < ATTACHMENT_SHARE:
            self._attach(message)
        thread.sent.append(_Sent(message_id, sender, self.clock, body))
        return self._render(message)

    def _quote(self, parent: _Sent, outlook: bool, to: tuple[str, str]) -> str:
        if outlook:
            header = (
                "\n\n-----Original Message-----\n"
                f"From: {parent.sender[0]} <{parent.sender[1]}>\n"
                f"Sent: {parent.date:%A, %B %d, %Y %I:%M %p}\n"
                f"To: {formataddr(to)}\n\n"
            )
            return header + parent.body
        when = parent.date.strftime("%a, %d %b %Y at %H:%M")
        quoted = "".join(f"> {line}\n" if line else ">\n" for line in parent.body.splitlines())
        return f"\n\nOn {when}, {parent.sender[0]} <{parent.sender[1]}> wrote:\n{quoted}"

    def _attach(self, message: EmailMessage) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            message.add_attachment(
                _pdf(rng.randint(1, 10**6)),
                maintype="application",
                subtype="pdf",
                filename=f"invoice-{rng.randint(1000, 9999)}.pdf",
            )
        else:
            message.add_attachment(
                _png(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
                maintype="image",
                subtype="png",
                filename=f"screenshot {rng.randint(1, 99)}.png",
            )

    def _autoreply(self, thread: _Thread) -> bytes:
        """An out-of-office answer from the customer's side to the last message."""
        parent = thread.sent[-1]
        name, address = thread.customer
        message = EmailMessage()
        message["From"] = formataddr(thread.customer)
        message["To"] = formataddr(SUPPORT)
        message["Subject"] = f"Automatic reply: {thread.subject}"
        message["Date"] = format_datetime(self.clock)
        message["Message-ID"] = self._message_id(address.split("@", 1)[1])
        message["In-Reply-To"] = parent.message_id
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(
            f"I am out of the office until {(self.clock + dt.timedelta(days=7)):%B %d} "
            f"with limited access to email.\n\n{name}\n"
        )
        return self._render(message)

    def _render(self, message: EmailMessage) -> bytes:
        # The email package draws MIME boundaries from the global random state; fix them.
        for number, part in enumerate(message.walk()):
            if part.is_multipart():
                part.set_boundary(f"=_part{number}_{self.seed}_{self.serial}")
        return message.as_bytes(policy=_POLICY)

    def _bounce(self, thread: _Thread) -> bytes:
        """A delivery-status notification (RFC 3464) for the last message of the thread."""
        parent = thread.sent[-1]
        recipient = thread.customer[1]
        boundary = f"{self.serial}.{self.rng.getrandbits(32):x}/mx.example.com"
        message_id = self._message_id("mx.example.com")
        host = "mx." + recipient.split("@", 1)[1]
        text = f"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {SUPPORT[1]}
Subject: Undelivered Mail Returned to Sender
Date: {format_datetime(self.clock)}
Message-ID: {message_id}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="{boundary}"

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host {host} said: 550 5.1.1 User unknown (in reply
    to RCPT TO command)

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Arrival-Date: {format_datetime(parent.date)}

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; {host}
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: {formataddr(parent.sender)}
To: {recipient}
Subject: {thread.prefix}{thread.subject}
Date: {format_datetime(parent.date)}
Message-ID: {parent.message_id}

--{boundary}--
"""
        return text.encode("utf-8")


def _html(text: str) -> str:
    paragraphs = []
    for block in text.split("\n\n"):
        escaped = block.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        paragraphs.append("<p>" + escaped.replace("\n", "<br>") + "</p>")
    return (
        '<html><head><meta charset="utf-8"></head><body style="font-family:Calibri">'
        + "".join(paragraphs)
        + "</body></html>\n"
    )


def _pdf(number: int) -> bytes:
    """A small, valid one-page PDF."""
    text = f"Invoice {number}".encode()
    stream = b"BT /F1 24 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % index + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _png(red: int, green: int, blue: int, size: int = 32) -> bytes:
    """A small, valid single-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + bytes((red, green, blue)) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def generate(count: int, seed: int = 0) -> Iterator[bytes]:
    """`count` raw messages, always the same for the same seed."""
    return MailGenerator(seed).messages(count)


def _envelope_sender(raw: bytes) -> bytes:
    for line in raw.split(b"\n", 30):
        if line.lower().startswith(b"from:"):
            value = line[5:].strip()
            if b"<" in value:
                value = value.rsplit(b"<", 1)[1].split(b">", 1)[0]
            return value or b"MAILER-DAEMON"
        if not line:
            break
    return b"MAILER-DAEMON"


def write_mbox(path: str | Path, count: int, seed: int = 0) -> Path:
    """Write `count` messages to an mbox file (mboxrd quoting), streaming; returns the path."""
    path = Path(path)
    stamp = "Mon Jan  6 08:00:00 2025"
    with path.open("wb") as out:
        for raw in generate(count, seed):
            out.write(b"From " + _envelope_sender(raw) + b" " + stamp.encode() + b"\n")
            for line in raw.splitlines(keepends=True):
                if line.lstrip(b">").startswith(b"From "):
                    line = b">" + line
                out.write(line)
            if not raw.endswith(b"\n"):
                out.write(b"\n")
            out.write(b"\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mailgen", description=__doc__)
    parser.add_argument("count", type=int)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_mbox(args.output, args.count, args.seed)
    print(f"wrote {args.count} messages to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
