"""Showing a mail's HTML to an agent: remote content held back, inline images from our store.

The stored HTML is sanitised already (nh3, at ingest). Before a browser sees
it, each image is looked at once more:

- `cid:` images point at the message's own attachment (a URL we serve);
- a remote image (`src="https://…"`, or `data-remote-src` when the parser
  stored it inert) is kept inert as `data-remote-src` unless the agent asked
  to show remote content, for this message or for every mail of this sender;
- the result goes through nh3 again, so that nothing this step wrote can
  bring back what the sanitiser removed.

The frame that shows it has its own Content-Security-Policy (see the console's
bodies view): no script at all, images from our origin only unless remote
content was asked for.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

from deskmail.services.access import Actor
from deskmail.tickets.models import Attachment, Message, TrustedSender

_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
# html5ever (nh3) writes every attribute as name="value", with quotes escaped inside.
_ATTR = re.compile(r'\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"')
_REMOTE_HINT = re.compile(r'(?:src|data-remote-src)="(?:https?:)?//', re.IGNORECASE)
# The second pass allows what the sanitiser at ingest allows (deskmail.mail.html), and
# the inert data-remote-src; anything wider would be harmless, anything narrower lossy.
_TAGS = nh3.ALLOWED_TAGS | {"font", "tfoot"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"title", "dir", "lang", "style"},
    "font": {"color", "face", "size"},
    "td": nh3.ALLOWED_ATTRIBUTES["td"] | {"valign", "width", "bgcolor"},
    "table": nh3.ALLOWED_ATTRIBUTES["table"] | {"width", "cellpadding", "cellspacing", "border"},
    "img": nh3.ALLOWED_ATTRIBUTES["img"] | {"data-remote-src"},
}
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "font-size",
    "font-family",
    "text-align",
    "text-decoration",
    "white-space",
    "vertical-align",
}


@dataclass(frozen=True)
class Shown:
    html: str
    remote_hidden: int  # how many remote images were held back
    remote_shown: int


def has_remote_content(message: Message) -> bool:
    """Whether the mail's HTML would load anything from another host (a cheap look)."""
    return bool(message.body_html and _REMOTE_HINT.search(message.body_html))


def trusts(actor: Actor, address: str) -> bool:
    if actor.user_id is None or not address:
        return False
    return TrustedSender.objects.filter(user_id=actor.user_id, address=address.lower()).exists()


def trust_sender(actor: Actor, message: Message) -> str:
    """Always show remote content in mail from this message's sender, for this person."""
    address = message.from_address.lower()
    if actor.user_id is not None and address:
        TrustedSender.objects.get_or_create(user_id=actor.user_id, address=address)
    return address


def _is_remote(url: str) -> bool:
    return url.lower().startswith(("http://", "https://", "//"))


def mail_html(
    message: Message, *, show_remote: bool, inline_url: Callable[[Attachment], str]
) -> Shown:
    """The message's HTML, ready for the sandboxed frame."""
    source = message.body_html or ""
    by_cid = {
        a.content_id.strip("<>").lower(): a for a in message.attachments.all() if a.content_id
    }
    hidden = shown = 0

    def rewrite(match: re.Match[str]) -> str:
        nonlocal hidden, shown
        attrs = {
            name.lower(): html.unescape(value) for name, value in _ATTR.findall(match.group(0))
        }
        url = attrs.pop("src", "") or ""
        remote = attrs.pop("data-remote-src", "") or ""
        if url.lower().startswith("cid:"):
            found = by_cid.get(url[4:].strip("<>").lower())
            url = inline_url(found) if found is not None else ""
        elif _is_remote(url):
            remote, url = url, ""
        if remote and _is_remote(remote):
            if show_remote:
                url = remote
                shown += 1
            else:
                attrs["data-remote-src"] = remote
                hidden += 1
        if url:
            attrs["src"] = url
        rendered = "".join(f' {name}="{html.escape(value)}"' for name, value in attrs.items())
        return f"<img{rendered}>"

    rewritten = _IMG.sub(rewrite, source)
    cleaned = nh3.clean(
        rewritten,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return Shown(cleaned, hidden, shown)
