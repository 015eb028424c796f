"""Queue outgoing mail: the outbox row and the outgoing Message, in one transaction.

    item = queue_reply(ticket, body_text="Fixed!", agent=user)

The mail is composed now, with its Message-ID fixed, and stored like any
message of the ticket (direction "out"), so that a reply to it threads at once.
The worker sends it later (`deskmail.outbound.send.send_due`). Call these
inside the transaction that changes the ticket, or on their own: they open
one of their own when there is none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe

from deskmail.mail.html import html_to_text, sanitize
from deskmail.mail.subjects import strip_prefixes
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.compose import Draft, OutgoingAttachment, build
from deskmail.outbound.models import OutboxItem
from deskmail.outbound.recipients import clean, own_addresses, suggested
from deskmail.outbound.rendering import (
    body_from_html,
    body_from_text,
    custom_subject,
    notice_variables,
    render_document,
    render_mail,
    render_string,
    variables,
)
from deskmail.outbound.threading import reply_headers
from deskmail.outbound.tokens import new_message_id
from deskmail.tickets.blobs import store_blob, store_raw
from deskmail.tickets.models import Attachment, Blob, Message, MessageReference, Ticket

_TAG = re.compile(r"\[\s*[A-Za-z0-9]{1,5}\s*#\s*\d{1,18}\s*\]")
# How many acknowledgements one sender gets per hour, whatever the tickets.
AUTO_ACK_PER_HOUR = 3
_BULK_PRECEDENCE = {"bulk", "list", "junk"}


class OutboundError(Exception):
    """A mail we refuse to queue, with the reason in words an agent can act on."""


# -- the sending mailbox ---------------------------------------------------------------


def default_sending_mailbox() -> Mailbox | None:
    """The mailbox named by settings.DESKMAIL_DEFAULT_SENDING_MAILBOX, if any."""
    name = settings.DESKMAIL_DEFAULT_SENDING_MAILBOX
    if not name:
        return None
    mailbox = Mailbox.objects.filter(name=name).first()
    if mailbox is None:
        raise OutboundError(f"the default sending mailbox {name!r} does not exist")
    return mailbox


def cannot_send(mailbox: Mailbox) -> str | None:
    """Why mailbox cannot send mail, or None when it can."""
    config = mailbox.settings
    if config.purpose == "receive":
        return (
            f"mailbox {mailbox.name} only receives (purpose: receive) and cannot send mail; "
            "reply from another mailbox or set its purpose to receive_send"
        )
    if config.outbound is None:
        return f"mailbox {mailbox.name} has no outbound (SMTP) settings and cannot send mail"
    if config.outbound.protocol == "smtp" and not config.outbound.host:
        return f"mailbox {mailbox.name} has no SMTP host and cannot send mail"
    if mailbox.status == Mailbox.Status.DISABLED:
        return f"mailbox {mailbox.name} is disabled and cannot send mail"
    return None


def sending_mailbox(ticket: Ticket, explicit: Mailbox | None = None) -> Mailbox:
    """The explicit mailbox; else the ticket's own when it came by email; else the default."""
    mailbox = explicit
    if mailbox is None:
        came_by_email = ticket.messages.filter(direction=Message.Direction.IN).exists()
        mailbox = ticket.mailbox if came_by_email else default_sending_mailbox() or ticket.mailbox
    reason = cannot_send(mailbox)
    if reason:
        raise OutboundError(reason)
    return mailbox


# -- subjects ----------------------------------------------------------------------------


def _title(subject: str) -> str:
    text = _TAG.sub(" ", strip_prefixes(subject or ""))
    return " ".join(text.split()) or "(no subject)"


def _tagged(prefix: str, title: str, ticket: Ticket, mailbox: Mailbox) -> str:
    if mailbox.settings.threading.subject_tag:
        return f"{prefix}{ticket.tag_for(mailbox.key)} {title}"
    return f"{prefix}{title}"


def reply_subject(ticket: Ticket, mailbox: Mailbox) -> str:
    """'Re: [KEY#N] title': the ticket's title, also when it grouped mail of several subjects."""
    return _tagged("Re: ", _title(ticket.title), ticket, mailbox)


def _subject(kind: str, ticket: Ticket, mailbox: Mailbox, agent: Any) -> str:
    custom = custom_subject(kind, ticket, mailbox, agent)
    if not custom:
        return reply_subject(ticket, mailbox)
    tag = ticket.tag_for(mailbox.key)
    if mailbox.settings.threading.subject_tag and tag not in custom:
        custom = f"{custom} {tag}"
    return custom


# -- recording ---------------------------------------------------------------------------


def _attachment_rows(message: Message, attachments: Iterable[OutgoingAttachment]) -> None:
    for item in attachments:
        digest = store_blob(item.data)
        blob, _ = Blob.objects.get_or_create(sha256=digest, defaults={"size": len(item.data)})
        Attachment.objects.create(
            message=message,
            blob=blob,
            filename=item.filename[:500],
            content_type=item.content_type[:200],
            size=len(item.data),
        )


def _headers(raw: bytes) -> dict[str, list[str]]:
    """The header fields as the parser stores them for incoming mail: lower-cased names."""
    found: dict[str, list[str]] = {}
    for name, value in BytesHeaderParser(policy=policy.default).parsebytes(raw).items():
        found.setdefault(name.lower(), []).append(str(value))
    return found


def _record_message(
    ticket: Ticket | None, mailbox: Mailbox, draft: Draft, reply_text: str, now: dt.datetime
) -> Message:
    """The outgoing mail as a message of the ticket (raw bytes stored like incoming mail).

    A notice is on no ticket, like the mail it answers.
    """
    raw = build(draft)
    digest = store_raw(raw)
    message = Message.objects.create(
        ticket=ticket,
        mailbox=mailbox,
        direction=Message.Direction.OUT,
        message_id=draft.message_id,
        in_reply_to=draft.in_reply_to or "",
        references=list(draft.references),
        subject=draft.subject,
        from_address=draft.from_address,
        from_name=draft.from_name[:300],
        to=list(draft.to),
        cc=list(draft.cc),
        date=draft.date,
        body_text=draft.text,
        body_html=draft.html,
        reply_text=reply_text,
        auto_submitted=draft.automatic,
        headers=_headers(raw),
        raw_sha256=digest,
        raw_size=len(raw),
        trace=[],
        received_at=now,
    )
    refs = {r for r in [draft.in_reply_to, *draft.references] if r}
    MessageReference.objects.bulk_create(
        [MessageReference(message=message, ref=r[:998]) for r in sorted(refs)]
    )
    _attachment_rows(message, draft.attachments)
    if ticket is None:
        return message
    # The next reply chains from this one too.
    ticket.reply_references = [*ticket.reply_references, draft.message_id]
    ticket.save(update_fields=["reply_references", "updated_at"])
    return message


def _draft(
    mailbox: Mailbox,
    *,
    message_id: str,
    subject: str,
    html: str,
    text: str,
    to: list[str],
    cc: list[str],
    now: dt.datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    automatic: bool = False,
    attachments: Sequence[OutgoingAttachment] = (),
) -> Draft:
    config = mailbox.settings
    return Draft(
        from_address=mailbox.address,
        from_name=config.display_name or "",
        reply_to=config.reply_to,
        subject=subject,
        message_id=message_id,
        html=html,
        text=text,
        loop_address=mailbox.address,
        to=to,
        cc=cc,
        in_reply_to=in_reply_to,
        references=list(references),
        automatic=automatic,
        attachments=list(attachments),
        date=now,
    )


def _check_attachments(mailbox: Mailbox, attachments: Sequence[OutgoingAttachment]) -> None:
    limit = mailbox.settings.replies.max_attachments
    if len(attachments) > limit:
        raise OutboundError(
            f"{len(attachments)} attachments, but mailbox {mailbox.name} sends at most {limit} "
            "per reply (replies.max_attachments); remove some or send them in a second reply"
        )


def _body(body_text: str | None, body_html: str | None) -> SafeString:
    if body_html:
        return body_from_html(body_html)
    if not (body_text or "").strip():
        raise OutboundError("the reply is empty")
    return body_from_text(body_text or "")


# -- replies and public comments ----------------------------------------------------------


def queue_reply(
    ticket: Ticket,
    *,
    body_text: str | None = None,
    body_html: str | None = None,
    agent: Any = None,
    to: Iterable[str] | None = None,
    cc: Iterable[str] | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
    mailbox: Mailbox | None = None,
    kind: str = OutboxItem.Kind.REPLY,
    status: str | None = None,
) -> OutboxItem:
    """Queue an agent's reply (kind reply) or public comment (kind note, the case response).

    To defaults to the ticket's contact and Cc to the latest other sender plus the Cc
    of the customer's latest mail; `to`/`cc` replace them. Our own addresses are
    always dropped. `status` also moves the ticket (e.g. to pending), in the same commit.
    """
    if kind not in (OutboxItem.Kind.REPLY, OutboxItem.Kind.NOTE):
        raise ValueError(f"queue_reply queues replies and notes, not {kind}")
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=ticket.pk)
        )
        mailbox = sending_mailbox(ticket, mailbox)
        _check_attachments(mailbox, attachments)
        ours = own_addresses()
        default = suggested(ticket, ours)
        to_list = clean(to, ours=ours) if to is not None else default.to
        cc_list = clean(cc if cc is not None else default.cc, exclude=to_list, ours=ours)
        if not to_list:
            raise OutboundError(
                f"ticket #{ticket.number} has no address to reply to (our own addresses are "
                "never mailed); give a recipient"
            )
        template = "reply" if kind == OutboxItem.Kind.REPLY else "case_response"
        body = _body(body_text, body_html)
        html, text = render_mail(template, ticket, mailbox, agent=agent, body=body)
        in_reply_to, references = reply_headers(ticket)
        now = timezone.now()
        message_id = new_message_id(ticket.number, mailbox.address)
        draft = _draft(
            mailbox,
            message_id=message_id,
            subject=_subject(template, ticket, mailbox, agent),
            html=html,
            text=text,
            to=to_list,
            cc=cc_list,
            now=now,
            in_reply_to=in_reply_to,
            references=references,
            attachments=attachments,
        )
        reply_text = body_text if body_text is not None else html_to_text(body_html or "")
        message = _record_message(ticket, mailbox, draft, reply_text, now)
        if status and ticket.set_status(status, now):
            ticket.save(
                update_fields=[
                    "status",
                    "status_changed_at",
                    "resolved_at",
                    "closed_at",
                    "updated_at",
                ]
            )
        return OutboxItem.objects.create(
            kind=kind,
            ticket=ticket,
            mailbox=mailbox,
            outgoing=message,
            message_id=message_id,
            recipient=to_list[0],
            agent=agent,
        )


# -- forwarding ---------------------------------------------------------------------------


def _forwarded(message: Message) -> dict[str, Any]:
    sender = (
        f"{message.from_name} <{message.from_address}>"
        if message.from_name
        else (message.from_address)
    )
    if message.body_html:
        body = mark_safe(sanitize(message.body_html))  # noqa: S308 - sanitised by nh3
    else:
        body = mark_safe(linebreaks(escape(message.body_text)))  # noqa: S308 - escaped
    return {
        "sender": sender,
        "date": message.date.strftime("%a, %d %b %Y %H:%M %Z") if message.date else "",
        "subject": message.subject,
        "to": ", ".join(message.to),
        "cc": ", ".join(message.cc),
        "body": body,
    }


def _stored_attachments(message: Message) -> list[OutgoingAttachment]:
    out = []
    for row in message.attachments.select_related("blob").order_by("id"):
        with default_storage.open(row.blob.name, "rb") as handle:
            out.append(OutgoingAttachment(row.filename, row.content_type, handle.read()))
    return out


def queue_forward(
    message: Message,
    *,
    to: Iterable[str],
    cc: Iterable[str] = (),
    body_text: str = "",
    agent: Any = None,
    include_previous: bool = False,
    attachments: Sequence[OutgoingAttachment] = (),
    mailbox: Mailbox | None = None,
) -> OutboxItem:
    """Forward one of a ticket's messages (with its attachments) to a third party.

    With include_previous, the message before it on the ticket is forwarded too.
    A reply from the third party names our Message-ID, so it joins the ticket.
    """
    ticket = message.ticket
    if ticket is None:
        raise OutboundError("only a ticket's messages can be forwarded")
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=ticket.pk)
        )
        mailbox = sending_mailbox(ticket, mailbox)
        _check_attachments(mailbox, attachments)
        to_list = clean(to)
        if not to_list:
            raise OutboundError("a forward needs a recipient (our own addresses are never mailed)")
        cc_list = clean(cc, exclude=to_list)
        items = [message]
        if include_previous:
            previous = (
                ticket.messages.filter(excluded=False, received_at__lte=message.received_at)
                .exclude(pk=message.pk)
                .order_by("-received_at", "-id")
                .first()
            )
            if previous is not None:
                items.append(previous)
        body = body_from_text(body_text) if body_text.strip() else mark_safe("")
        html, text = render_mail(
            "forward",
            ticket,
            mailbox,
            agent=agent,
            body=body,
            extra={"forwarded": [_forwarded(m) for m in items]},
        )
        files = [*attachments]
        for item in items:
            files += _stored_attachments(item)
        now = timezone.now()
        message_id = new_message_id(ticket.number, mailbox.address)
        draft = _draft(
            mailbox,
            message_id=message_id,
            subject=_tagged("Fwd: ", _title(message.subject), ticket, mailbox),
            html=html,
            text=text,
            to=to_list,
            cc=cc_list,
            now=now,
            attachments=files,
        )
        outgoing = _record_message(ticket, mailbox, draft, body_text, now)
        return OutboxItem.objects.create(
            kind=OutboxItem.Kind.FORWARD,
            ticket=ticket,
            mailbox=mailbox,
            outgoing=outgoing,
            message_id=message_id,
            recipient=to_list[0],
            agent=agent,
        )


# -- acknowledgements -----------------------------------------------------------------------


def auto_ack_refusal(item: OutboxItem, recipient: str, now: dt.datetime) -> str | None:
    """Why this acknowledgement must not go out, or None when it may."""
    ticket = item.ticket
    assert ticket is not None  # an acknowledgement is of a ticket
    if not recipient:
        return "no address to acknowledge"
    if recipient in own_addresses():
        return f"{recipient} is one of our own addresses (a loop)"
    first = (
        ticket.messages.filter(direction=Message.Direction.IN).order_by("received_at", "id").first()
    )
    if first is not None:
        if first.bounce:
            return "the mail is a bounce"
        if first.auto_submitted:
            return "the mail is an auto-reply"
        headers = first.headers or {}
        if headers.get("list-id"):
            return f"the mail came from a mailing list (List-Id {headers['list-id'][0]})"
        precedence = {v.strip().lower() for v in headers.get("precedence", [])}
        if precedence & _BULK_PRECEDENCE:
            return f"the mail is bulk mail (Precedence: {', '.join(sorted(precedence))})"
    live = [OutboxItem.Status.PENDING, OutboxItem.Status.SENDING, OutboxItem.Status.SENT]
    others = OutboxItem.objects.filter(
        kind=OutboxItem.Kind.AUTO_ACK, recipient=recipient, status__in=live
    ).exclude(pk=item.pk)
    if others.filter(ticket=ticket).exists():
        return f"{recipient} was already acknowledged on ticket #{ticket.number}"
    recent = others.filter(created_at__gte=now - dt.timedelta(hours=1)).count()
    if recent >= AUTO_ACK_PER_HOUR:
        return f"rate limit: {recipient} got {recent} acknowledgements in the past hour"
    return None


def compose_auto_ack(item: OutboxItem, now: dt.datetime | None = None) -> bool:
    """Compose a queued acknowledgement (the pipeline writes bare rows); False when skipped.

    A skipped one is marked so, with the reason in last_error. Runs in a transaction.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=item.ticket_id or 0)
        )
        item.ticket = ticket
        recipient = (ticket.reply_to or (ticket.contact.address if ticket.contact else "")).lower()
        mailbox = item.sending_mailbox
        reason = cannot_send(mailbox) or auto_ack_refusal(item, recipient, now)
        if reason is None and not mailbox.settings.replies.auto_acknowledge:
            reason = f"mailbox {mailbox.name} does not acknowledge mail (replies.auto_acknowledge)"
        if reason is not None:
            item.status, item.last_error, item.recipient = (
                OutboxItem.Status.SKIPPED,
                reason,
                recipient,
            )
            item.save(update_fields=["status", "last_error", "recipient"])
            return False
        if not item.message_id:  # a row written by bulk_create, which skips save()
            item.message_id = new_message_id(ticket.number, mailbox.address)
            item.save(update_fields=["message_id"])
        html, text = render_mail("auto_ack", ticket, mailbox)
        in_reply_to, references = reply_headers(ticket)
        draft = _draft(
            mailbox,
            message_id=str(item.message_id),
            subject=_subject("auto_ack", ticket, mailbox, None),
            html=html,
            text=text,
            to=[recipient],
            cc=[],
            now=now,
            in_reply_to=in_reply_to,
            references=references,
            automatic=True,
        )
        item.outgoing = _record_message(ticket, mailbox, draft, "", now)
        item.mailbox, item.recipient = mailbox, recipient
        item.save(update_fields=["outgoing", "mailbox", "recipient"])
        return True


def queue_auto_ack(ticket: Ticket) -> OutboxItem:
    """Queue and compose the acknowledgement of a new ticket (it may come back skipped)."""
    with transaction.atomic():
        item = OutboxItem.objects.create(kind=OutboxItem.Kind.AUTO_ACK, ticket=ticket)
        compose_auto_ack(item)
        return item


# -- automatic answers from the routing rules -------------------------------------------------


def _automatic_row(
    kind: str, mailbox: Mailbox, recipient: str, ticket: Ticket | None = None
) -> OutboxItem:
    """The outbox row of an automatic mail; kept as skipped, with the reason, when the
    mailbox cannot send (see `_skipped`)."""
    item = OutboxItem.objects.create(kind=kind, ticket=ticket, mailbox=mailbox, recipient=recipient)
    reason = cannot_send(mailbox)
    if reason is not None:
        item.status, item.last_error = OutboxItem.Status.SKIPPED, reason
        item.save(update_fields=["status", "last_error"])
    return item


def _skipped(item: OutboxItem) -> bool:
    return item.status == OutboxItem.Status.SKIPPED


def _compose_automatic(
    item: OutboxItem,
    ticket: Ticket | None,
    mailbox: Mailbox,
    *,
    subject: str,
    html: str,
    now: dt.datetime,
    in_reply_to: str | None,
    references: list[str],
) -> OutboxItem:
    """Compose an automatic mail (Auto-Submitted: auto-replied) to the row's recipient."""
    draft = _draft(
        mailbox,
        message_id=str(item.message_id),
        subject=subject,
        html=html,
        text=html_to_text(html),
        to=[item.recipient],
        cc=[],
        now=now,
        in_reply_to=in_reply_to,
        references=references,
        automatic=True,
    )
    item.outgoing = _record_message(ticket, mailbox, draft, "", now)
    item.save(update_fields=["outgoing"])
    return item


def _template_subject(subject: str, context: dict[str, Any]) -> str:
    """A template's subject line, rendered as text on one line."""
    source = "{% autoescape off %}" + subject + "{% endautoescape %}"
    return " ".join(render_string(source, context).split())


def queue_auto_reply(
    ticket: Ticket,
    recipient: str,
    *,
    body: str,
    subject: str | None = None,
    now: dt.datetime | None = None,
) -> OutboxItem:
    """Queue and compose an automatic answer from a mailbox template (Django template, HTML).

    The caller has decided that this mail may be answered (the routing rules' loop
    guard); here the mailbox must be able to send, or the row is kept as skipped
    with the reason. The answer threads under the ticket's latest mail and is marked
    Auto-Submitted: auto-replied, so other systems do not answer it in turn.
    """
    now = now or timezone.now()
    mailbox = ticket.mailbox
    with transaction.atomic():
        item = _automatic_row(OutboxItem.Kind.AUTO_REPLY, mailbox, recipient, ticket)
        if _skipped(item):
            return item
        context = variables(ticket, mailbox)
        html = render_document(mailbox, render_string(body, context))
        title = reply_subject(ticket, mailbox)
        if subject:
            title = _template_subject(subject, context)
            tag = ticket.tag_for(mailbox.key)
            if mailbox.settings.threading.subject_tag and tag not in title:
                title = f"{title} {tag}"
        in_reply_to, references = reply_headers(ticket)
        return _compose_automatic(
            item,
            ticket,
            mailbox,
            subject=title,
            html=html,
            now=now,
            in_reply_to=in_reply_to,
            references=references,
        )


def queue_notice(
    mailbox: Mailbox,
    answered: Message,
    *,
    body: str,
    subject: str | None = None,
    now: dt.datetime | None = None,
) -> OutboxItem:
    """Queue and compose an automatic answer to mail that opened no ticket (a notice).

    Like `queue_auto_reply`, the caller has decided that the mail may be answered;
    a mailbox that cannot send keeps the row as skipped, with the reason. The
    notice answers the sender of `answered` in its thread (In-Reply-To), is marked
    Auto-Submitted: auto-replied, and is stored on no ticket, like the mail it answers.
    """
    now = now or timezone.now()
    recipient = answered.from_address
    with transaction.atomic():
        item = _automatic_row(OutboxItem.Kind.NOTICE, mailbox, recipient)
        if _skipped(item):
            return item
        title = _title(answered.subject)
        context = notice_variables(mailbox, recipient, answered.from_name, title)
        html = render_document(mailbox, render_string(body, context))
        title = _template_subject(subject, context) if subject else f"Re: {title}"
        parent = None if answered.synthetic_message_id else answered.message_id
        references = [*answered.references, *([parent] if parent else [])][-20:]
        return _compose_automatic(
            item,
            None,
            mailbox,
            subject=title,
            html=html,
            now=now,
            in_reply_to=parent,
            references=references,
        )


def queue_confirmation(
    ticket: Ticket,
    recipient: str,
    *,
    link: str | None,
    hours: float,
    now: dt.datetime | None = None,
) -> OutboxItem:
    """Queue and compose the mail that asks a new sender to confirm they are a person.

    A reply to it names its Message-ID (signed, naming the ticket), so it joins the
    waiting ticket; `link`, when there is one, confirms as well. A mailbox that cannot
    send keeps the row as skipped, with the reason.
    """
    now = now or timezone.now()
    mailbox = ticket.mailbox
    with transaction.atomic():
        item = _automatic_row(OutboxItem.Kind.CONFIRMATION, mailbox, recipient, ticket)
        if _skipped(item):
            return item
        context = {**variables(ticket, mailbox), "link": link or "", "hours": f"{hours:g}"}
        html = render_document(mailbox, render_to_string("outbound/confirmation.html", context))
        in_reply_to, references = reply_headers(ticket)
        return _compose_automatic(
            item,
            ticket,
            mailbox,
            subject=_tagged("Please confirm: ", _title(ticket.title), ticket, mailbox),
            html=html,
            now=now,
            in_reply_to=in_reply_to,
            references=references,
        )


def queue_agent_notice(
    ticket: Ticket,
    recipient: str,
    *,
    body: str,
    subject: str | None = None,
    now: dt.datetime | None = None,
) -> OutboxItem:
    """Queue a mailbox template to one of the agents about the ticket.

    It names none of the customer's Message-IDs and is stored on no ticket, so the
    customer's thread never sees it; it is marked automatic. The agent's reply to it
    is found by its Message-ID (`deskmail.routing.agent_notices`). A mailbox that
    cannot send keeps the row as skipped, with the reason.
    """
    now = now or timezone.now()
    mailbox = ticket.mailbox
    with transaction.atomic():
        item = _automatic_row(OutboxItem.Kind.AGENT_NOTICE, mailbox, recipient, ticket)
        if _skipped(item):
            return item
        context = variables(ticket, mailbox)
        html = render_document(mailbox, render_string(body, context))
        title = f"Ticket #{ticket.number}: {_title(ticket.title)}"
        return _compose_automatic(
            item,
            None,
            mailbox,
            subject=_template_subject(subject, context) if subject else title,
            html=html,
            now=now,
            in_reply_to=None,
            references=[],
        )


# -- tasks for colleagues and outside people ------------------------------------------------


def queue_task_mail(
    ticket: Ticket,
    *,
    message_id: str,
    to: str,
    subject: str,
    body: SafeString,
    agent: Any = None,
    mailbox: Mailbox | None = None,
    now: dt.datetime | None = None,
) -> OutboxItem:
    """Queue the mail of a task (deskmail.tasks): to one person, outside the customer's thread.

    message_id is the task's signed token (`tokens.new_task_message_id`), so that a reply
    finds the task. The mail names none of the ticket's Message-IDs and goes to nobody
    but `to`; it is stored excluded and on no ticket, so the customer's thread, its
    participants and the References of later replies never see it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        mailbox = sending_mailbox(ticket, mailbox)
        to_list = clean([to])
        if not to_list:
            raise OutboundError(
                f"{to or 'an empty address'} cannot be given a task by mail (our own "
                "addresses are never mailed)"
            )
        html = render_document(mailbox, body)
        draft = _draft(
            mailbox,
            message_id=message_id,
            subject=subject,
            html=html,
            text=html_to_text(html),
            to=to_list,
            cc=[],
            now=now,
        )
        raw = build(draft)
        outgoing = Message.objects.create(
            ticket=None,
            mailbox=mailbox,
            direction=Message.Direction.OUT,
            message_id=message_id,
            subject=draft.subject,
            from_address=draft.from_address,
            from_name=draft.from_name[:300],
            to=to_list,
            date=now,
            body_text=draft.text,
            body_html=draft.html,
            headers=_headers(raw),
            raw_sha256=store_raw(raw),
            raw_size=len(raw),
            excluded=True,
            excluded_reason=f"a task mail about ticket #{ticket.number}, not part of its thread",
            received_at=now,
        )
        return OutboxItem.objects.create(
            kind=OutboxItem.Kind.TASK,
            ticket=ticket,
            mailbox=mailbox,
            outgoing=outgoing,
            message_id=message_id,
            recipient=to_list[0],
            agent=agent,
        )
