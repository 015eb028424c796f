"""Render our mail from templates: the mailbox's own (`MailboxTemplate`) or the defaults.

Templates see plain values, never model objects, so that a template or canned
answer written in the admin cannot reach into a mailbox's secrets:

    ticket   number, title, status, priority, tag ("[SUP#12]" or "")
    contact  name, first_name, address
    agent    name, first_name, email
    mailbox  name, key, address, display_name

Every mail is wrapped in the same document: the end-of-message marker on top
(when the mailbox sets one) and the "Powered by deskmail" footer (unless the
mailbox turns it off), whatever a mailbox template says.
"""

from __future__ import annotations

from typing import Any

from django.template import engines
from django.template.loader import render_to_string
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe

from deskmail.mail.html import html_to_text, restore_remote_content, sanitize
from deskmail.mailboxes.models import Mailbox
from deskmail.outbound.models import MailboxTemplate
from deskmail.tickets.models import Ticket

Kind = str  # one of MailboxTemplate.Kind


def variables(ticket: Ticket, mailbox: Mailbox, agent: Any = None) -> dict[str, Any]:
    settings = mailbox.settings
    contact = ticket.contact
    agent_name = ""
    agent_email = ""
    if agent is not None:
        agent_name = (agent.get_full_name() or agent.get_username()).strip()
        agent_email = agent.email or ""
    contact_name = contact.name if contact else ""
    return {
        "ticket": {
            "number": ticket.number,
            "title": ticket.title,
            "status": ticket.status,
            "priority": ticket.priority,
            "tag": ticket.tag_for(mailbox.key) if settings.threading.subject_tag else "",
        },
        "contact": {
            "name": contact_name,
            "first_name": contact_name.split(" ")[0] if contact_name else "",
            "address": contact.address if contact else ticket.reply_to,
        },
        "agent": {
            "name": agent_name,
            "first_name": agent_name.split(" ")[0] if agent_name else "",
            "email": agent_email,
        },
        "mailbox": {
            "name": mailbox.name,
            "key": mailbox.key,
            "address": mailbox.address,
            "display_name": settings.display_name or mailbox.name,
        },
    }


def notice_variables(mailbox: Mailbox, address: str, name: str, subject: str) -> dict[str, Any]:
    """`variables` for an answer to mail that is on no ticket: the ticket's values are empty."""
    settings = mailbox.settings
    return {
        "ticket": {"number": "", "title": subject, "status": "", "priority": "", "tag": ""},
        "contact": {
            "name": name,
            "first_name": name.split(" ")[0] if name else "",
            "address": address,
        },
        "agent": {"name": "", "first_name": "", "email": ""},
        "mailbox": {
            "name": mailbox.name,
            "key": mailbox.key,
            "address": mailbox.address,
            "display_name": settings.display_name or mailbox.name,
        },
    }


def render_string(source: str, context: dict[str, Any]) -> str:
    """Render a template written in the admin (autoescaped)."""
    return engines["django"].from_string(source).render(context)


def body_from_text(text: str) -> SafeString:
    """An agent's plain-text message as HTML paragraphs."""
    return mark_safe(linebreaks(escape(text)))  # noqa: S308 - escaped just above


def body_from_html(html: str) -> SafeString:
    """An agent's HTML message: sanitised, with the images they put in it kept live."""
    return mark_safe(restore_remote_content(sanitize(html)))  # noqa: S308 - sanitised by nh3


def override(mailbox: Mailbox, kind: Kind) -> MailboxTemplate | None:
    return MailboxTemplate.objects.filter(mailbox=mailbox, kind=kind).first()


def render_content(kind: Kind, mailbox: Mailbox, context: dict[str, Any]) -> str:
    """The mail's content: the mailbox's template for kind, else the default one."""
    custom = override(mailbox, kind)
    if custom is not None:
        return render_string(custom.html, context)
    return render_to_string(f"outbound/{kind}.html", context)


def render_document(mailbox: Mailbox, content: str) -> str:
    replies = mailbox.settings.replies
    return render_to_string(
        "outbound/document.html",
        {
            "marker": replies.end_of_message_marker or "",
            "content": mark_safe(content),  # noqa: S308 - rendered from our templates
            "powered_by": replies.powered_by_footer,
        },
    )


def render_mail(
    kind: Kind,
    ticket: Ticket,
    mailbox: Mailbox,
    *,
    agent: Any = None,
    body: SafeString | str = "",
    extra: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """(html, text) of a mail of kind; the text part is generated from the HTML."""
    context = {**variables(ticket, mailbox, agent), "body": body, **(extra or {})}
    html = render_document(mailbox, render_content(kind, mailbox, context))
    return html, html_to_text(html)


def custom_subject(kind: Kind, ticket: Ticket, mailbox: Mailbox, agent: Any = None) -> str:
    """The mailbox template's subject for kind, rendered; "" when it has none."""
    custom = override(mailbox, kind)
    if custom is None or not custom.subject.strip():
        return ""
    source = "{% autoescape off %}" + custom.subject + "{% endautoescape %}"
    rendered = render_string(source, variables(ticket, mailbox, agent))
    return " ".join(rendered.split())
