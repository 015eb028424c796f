"""Build realistic test emails and mailboxes in a line.

raw = make_email(sender="ann@acme.example", subject="Printer broken")
reply = make_email(sender="ann@acme.example", subject="Re: Printer broken",
                   in_reply_to=first_id, references=[first_id])
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

_counter = itertools.count(1)


def new_message_id(domain: str = "mail.example.net") -> str:
    """A fresh Message-ID, without angle brackets."""
    return f"test-{next(_counter)}-{id(_counter)}@{domain}"


def make_email(
    *,
    sender: str = "Ann Customer <ann@acme.example>",
    to: str | Iterable[str] = "support@example.com",
    cc: str | Iterable[str] | None = None,
    subject: str = "Printer broken",
    body: str = "Hello,\n\nthe printer on floor 2 is broken.\n\nAnn\n",
    html: str | None = None,
    message_id: str | None = "",
    in_reply_to: str | None = None,
    references: Iterable[str] | None = None,
    date: dt.datetime | None = None,
    with_date: bool = True,
    headers: dict[str, str] | None = None,
    attachments: Iterable[tuple[str, str, bytes]] = (),
) -> bytes:
    """One RFC 5322 message as bytes. `message_id=""` makes a fresh one, None leaves it out.

    Message-IDs, In-Reply-To and References are given without angle brackets.
    Attachments are (filename, content type, bytes). `date` defaults to now;
    `with_date=False` leaves the Date header out.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        msg["Cc"] = cc if isinstance(cc, str) else ", ".join(cc)
    msg["Subject"] = subject
    if with_date:
        msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    if message_id == "":
        message_id = new_message_id()
    if message_id is not None:
        msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    refs = list(references or [])
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def message_id_of(raw: bytes) -> str:
    """The Message-ID of a built message, without angle brackets."""
    for line in raw.split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().strip(b"<>").decode()
    raise ValueError("no Message-ID")


def make_mailbox(
    name: str = "support",
    key: str = "SUP",
    address: str = "support@example.com",
    *,
    aliases: Iterable[str] = (),
    **config: Any,
) -> Any:
    """A Mailbox row with its MailboxAddress rows; `config` holds MailboxConfig sections."""
    from deskmail.mailboxes.config import MailboxConfig
    from deskmail.mailboxes.models import Mailbox, MailboxAddress

    settings = MailboxConfig(
        name=name,
        key=key,
        address=address,
        aliases=list(aliases),
        status="active",
        **config,
    )
    mailbox = Mailbox.objects.create(
        name=name,
        key=settings.key,
        address=settings.address,
        status="active",
        config=settings.model_dump(mode="json", by_alias=True, exclude_none=True),
    )
    for own in settings.own_addresses():
        MailboxAddress.objects.get_or_create(
            address=own, defaults={"mailbox": mailbox, "is_alias": own != settings.address}
        )
    return mailbox


def make_google_sign_in(name: str, signed_in_at: dt.datetime, *, key: str = "") -> Any:
    """A Gmail IMAP account a person signed in for at `signed_in_at`, with an OAuth2 app
    still in testing: Google ends its refresh token seven days later. Its OAuthGrant."""
    from deskmail.connectors.oauth import TokenSet
    from deskmail.mailboxes import grants
    from deskmail.mailboxes.models import OAuthGrant

    address = f"{name}@example.com"
    mailbox = make_mailbox(
        name=name,
        key=key or name[:5].upper(),
        address=address,
        inbound={
            "protocol": "imap",
            "host": "imap.gmail.com",
            "port": 993,
            "security": "ssl",
            "username": address,
            "auth": "oauth2",
        },
        oauth={
            "grant": "user",
            "provider": "google",
            "client_id": "deskmail-test",
            "testing_app": True,
            "redirect_uri": "https://desk.example.com/oauth/callback/",
        },
    )
    tokens = TokenSet(
        access_token=secrets.token_urlsafe(16),
        refresh_token=secrets.token_urlsafe(16),
        expires_at=None,
        scope=(),
    )
    grant = grants.save(mailbox, tokens)
    OAuthGrant.objects.filter(pk=grant.pk).update(
        connected_at=signed_in_at, refresh_expires_at=signed_in_at + grants.GOOGLE_TESTING
    )
    grant.refresh_from_db()
    return grant
