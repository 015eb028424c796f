"""HTML bodies: sanitised for the console, rendered to readable text for rules and search.

Remote content stays inert. In `sanitize()`'s output no element loads anything
from the network by itself: a remote `src`, `background` or `poster` (http,
https or protocol-relative) is moved to `data-remote-src`, `data-remote-background`
or `data-remote-poster`, a `srcset` to `data-remote-candidates`, and the URLs of
CSS `background`/`background-image` declarations to `data-remote-background`
(the declarations themselves are dropped). Tracking pixels in a ticket view, an
export, a quoted reply or an API response therefore load nothing. `cid:`
references stay live: the console serves them from the message's own attachments.

A consumer that wants remote content on purpose (an agent clicked "show
images") calls `restore_remote_content(html)`, which moves the URLs back
(http and https only), or does the same in the browser, e.g.
`img.src = img.dataset.remoteSrc`. `sanitize()` is idempotent: sanitising its
output again keeps the inert attributes.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser

import nh3

_TAGS = nh3.ALLOWED_TAGS | {"font", "tfoot", "section", "main", "address"}
# Remote-loading attributes and where sanitize() keeps their URLs instead.
REMOTE_ATTRIBUTES = {
    "src": "data-remote-src",
    "srcset": "data-remote-candidates",
    "background": "data-remote-background",
    "poster": "data-remote-poster",
}
_INERT = set(REMOTE_ATTRIBUTES.values())
_LOADING = {"img", "table", "td", "th", "tr", "tbody", "thead", "tfoot"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"title", "dir", "lang", "style", *_INERT},
    "font": {"color", "face", "size"},
    "td": nh3.ALLOWED_ATTRIBUTES["td"] | {"valign", "width", "bgcolor"},
    "table": nh3.ALLOWED_ATTRIBUTES["table"] | {"width", "cellpadding", "cellspacing", "border"},
}
for _tag in _LOADING:
    _ATTRIBUTES[_tag] = _ATTRIBUTES.get(_tag, set()) | set(REMOTE_ATTRIBUTES) | _INERT
# CSS properties whose values cannot load anything: no url(), no expressions.
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
# Let through only to have their URLs moved to data-remote-background, then dropped.
_BACKGROUNDS = {"background", "background-image"}
# Classes that mark a signature or quoted history; kept so that the text rendering can
# find them (they name nothing in the console's own style sheets).
_MARKER_CLASSES = {"gmail_signature", "gmail_signature_prefix", "gmail_quote", "moz-signature"}
_SIGNATURE_CLASSES = {"gmail_signature", "gmail_signature_prefix", "moz-signature"}
# cid: keeps inline images resolvable against the message's attachments.
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_DROP_CONTENT = {"script", "style", "title", "noscript", "template", "xml"}


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    """Built once: nh3 converts its whole configuration on every clean() call."""
    return nh3.Cleaner(
        tags=_TAGS,
        clean_content_tags=_DROP_CONTENT,
        attributes=_ATTRIBUTES,
        allowed_classes={"div": _MARKER_CLASSES, "span": _MARKER_CLASSES},
        url_schemes=_URL_SCHEMES,
        filter_style_properties=_STYLE_PROPERTIES | _BACKGROUNDS,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def sanitize(html: str, defects: list[str] | None = None) -> str:
    """HTML safe to show an agent: no scripts, handlers, forms, frames or javascript:
    URLs, and nothing that loads from the network (see the module docstring)."""
    html = limit_nesting(_META.sub("", html), defects)
    try:
        cleaned = _cleaner().clean(html).strip()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a Rust panic surfaces as a BaseException
        if defects is not None:
            defects.append(f"HTML could not be sanitised ({type(exc).__name__}), kept as text")
        return _as_text_html(html)
    if not any(marker in cleaned for marker in _MAY_LOAD):
        return cleaned
    return _START_TAG.sub(_make_inert, cleaned)


# <meta> never survives sanitising; html5ever 0.39 panics on some of them
# (content="text/html; charset"), so they are removed before it reads the HTML.
_META = re.compile(r"<[mM][eE][tT][aA](?![A-Za-z0-9-])[^<>]*>?")


def _as_text_html(html: str) -> str:
    """HTML the sanitiser could not read, as escaped text: no markup survives."""
    text = _WS.sub(" ", _ANY_MARKUP.sub(" ", html)).strip()
    return f"<p>{htmllib.escape(htmllib.unescape(text))}</p>" if text else ""


_ANY_MARKUP = re.compile(r"<[^<>]*>?")


# -- remote content -----------------------------------------------------------------

# nh3 serialises every attribute value in double quotes with '"' escaped, and every
# '<' in text as "&lt;": in its output this matches start tags exactly.
_START_TAG = re.compile(r'<([a-zA-Z][a-zA-Z0-9]*)((?:\s+[^\s"\'>/=]+(?:="[^"]*")?)+)\s*(/?)>')
_ATTRIBUTE = re.compile(r'([^\s"\'>/=]+)(?:="([^"]*)")?')
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)""", re.IGNORECASE)
_REMOTE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)
# Any attribute _make_inert() has to look at (a quick test for most mail, which has none).
_MAY_LOAD = ('src="', 'srcset="', "background", 'poster="', "data-remote-")


def _is_remote(url: str) -> bool:
    return bool(_REMOTE.match(url.strip()))


def _make_inert(match: re.Match[str]) -> str:
    attributes = _ATTRIBUTE.findall(match.group(2))
    if not any(
        name.lower() in REMOTE_ATTRIBUTES or name.lower() in _INERT or name.lower() == "style"
        for name, _ in attributes
    ):
        return match.group(0)
    kept: dict[str, str] = {}
    inert: dict[str, str] = {}
    for name, value in attributes:
        name = name.lower()
        text = htmllib.unescape(value)
        if name == "srcset":
            urls = [c.split()[0] for c in text.split(",") if c.split()]
            if urls and all(_is_remote(u) for u in urls):
                inert.setdefault(REMOTE_ATTRIBUTES[name], text)
        elif name in REMOTE_ATTRIBUTES:
            if text.strip().lower().startswith("cid:"):
                kept[name] = value
            elif _is_remote(text):
                inert.setdefault(REMOTE_ATTRIBUTES[name], text.strip())
        elif name in _INERT:
            candidates = [c.split()[0] for c in text.split(",") if c.split()]
            if candidates and all(_is_remote(u) for u in candidates):
                inert.setdefault(name, text.strip())
        elif name == "style":
            style, urls = _split_style(text)
            if urls:
                inert.setdefault("data-remote-background", " ".join(urls))
            if style:
                kept[name] = htmllib.escape(style)
        else:
            kept[name] = value
    kept.update({name: htmllib.escape(value) for name, value in inert.items()})
    parts = [match.group(1)] + [f'{name}="{value}"' for name, value in kept.items()]
    return "<" + " ".join(parts) + match.group(3) + ">"


def _split_style(style: str) -> tuple[str, list[str]]:
    """The style without background declarations, and their remote URLs."""
    kept: list[str] = []
    urls: list[str] = []
    for declaration in style.split(";"):
        name = declaration.split(":", 1)[0].strip().lower()
        if name in _BACKGROUNDS:
            for found in _CSS_URL.finditer(declaration):
                url = next(g for g in found.groups() if g is not None).strip()
                if _is_remote(url):
                    urls.append(url.replace(" ", "%20"))
        elif declaration.strip():
            kept.append(declaration.strip())
    return ";".join(kept), urls


def restore_remote_content(html: str) -> str:
    """`html` from sanitize() with its remote content live again (http and https only).

    For a consumer that shows remote images on an agent's request; the result is
    as safe as sanitize()'s output in every other way.
    """
    return _START_TAG.sub(_restore, html)


_LIVE = {inert: live for live, inert in REMOTE_ATTRIBUTES.items()}


def _restore(match: re.Match[str]) -> str:
    attributes = _ATTRIBUTE.findall(match.group(2))
    if not any(name.lower() in _INERT for name, _ in attributes):
        return match.group(0)
    out: dict[str, str] = {}
    background = ""
    for name, value in attributes:
        name = name.lower()
        text = htmllib.unescape(value)
        urls = [c.split()[0] for c in text.split(",") if c.split()]
        if name in _INERT and not all(re.match(r"https?://", u, re.I) for u in urls):
            continue
        if name == "data-remote-background" and match.group(1).lower() not in _LOADING:
            first = text.split()[0] if text.split() else ""
            background = f"background-image:url({htmllib.escape(first)})"
        elif name in _INERT:
            out[_LIVE[name]] = value
        else:
            out[name] = value
    if background:
        out["style"] = f"{out['style']};{background}" if out.get("style") else background
    parts = [match.group(1)] + [f'{name}="{value}"' for name, value in out.items()]
    return "<" + " ".join(parts) + match.group(3) + ">"


# -- bounded nesting ---------------------------------------------------------------

# The HTML tree builder's cost grows with the depth of open elements and with the
# number of formatting elements it must re-open for each paragraph; both are
# quadratic for hostile input (20,000 nested <div>s, thousands of unclosed <font>s).
# A linear pre-pass drops start tags (and their end tags) beyond these bounds.
MAX_HTML_DEPTH = 256
MAX_OPEN_FORMATTING = 16
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr", "keygen", "frame", "basefont", "bgsound", "image",
}  # fmt: skip
_FORMATTING = {
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
    "tt", "u",
}  # fmt: skip
_SELF_CLOSING = {"p", "li", "dt", "dd", "tr", "td", "th", "option"}
# "[^<>]*": a "<" that never closes costs only the text up to the next "<".
_ANY_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*>")


def limit_nesting(html: str, defects: list[str] | None = None) -> str:
    """`html` without the start tags that would nest deeper than MAX_HTML_DEPTH or
    keep more than MAX_OPEN_FORMATTING formatting elements open, nor their end tags.

    The depth is estimated from the tags alone (a few implied end tags included);
    an overestimate only drops structure from pathological mail, never text.
    """
    if html.count("<") < MAX_OPEN_FORMATTING:
        return html
    # Neither bound can be passed with fewer start tags of its kind than the bound.
    if html.count("<") <= MAX_HTML_DEPTH and (
        len(_FORMATTING_START.findall(html)) < MAX_OPEN_FORMATTING
    ):
        return html
    if _within_bounds(html):
        return html
    stack: list[str] = []
    formatting: dict[str, int] = {}
    open_formatting = 0
    dropped: dict[str, int] = {}
    pieces: list[str] = []
    position = 0
    count = 0
    for match in _ANY_TAG.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        drop = False
        if closing:
            if dropped.get(name):
                dropped[name] -= 1
                drop = True
            elif name in _FORMATTING:
                if formatting.get(name):
                    formatting[name] -= 1
                    open_formatting -= 1
            elif name in stack:
                while stack and stack.pop() != name:
                    pass
        elif name in _FORMATTING:
            if open_formatting >= MAX_OPEN_FORMATTING:
                drop = True
            else:
                formatting[name] = formatting.get(name, 0) + 1
                open_formatting += 1
        elif name not in _VOID and not match.group(0).endswith("/>"):
            if name in _SELF_CLOSING and stack and stack[-1] == name:
                stack.pop()
            if len(stack) >= MAX_HTML_DEPTH:
                drop = True
            else:
                stack.append(name)
        if drop:
            if not closing:
                dropped[name] = dropped.get(name, 0) + 1
            pieces.append(html[position : match.start()])
            position = match.end()
            count += 1
    if not count:
        return html
    pieces.append(html[position:])
    if defects is not None:
        defects.append(
            f"HTML nested deeper than {MAX_HTML_DEPTH} levels or with more than"
            f" {MAX_OPEN_FORMATTING} open formatting tags: {count:,} tag(s) dropped"
        )
    return "".join(pieces)


def _within_bounds(html: str) -> bool:
    """Whether limit_nesting() would drop nothing: its walk, on tag names only and
    without the bookkeeping for dropping (most mail stops here)."""
    stack: list[str] = []
    formatting: dict[str, int] = {}
    open_formatting = 0
    for closing, tag, rest in _TAG_NAMES.findall(html):
        name = tag.lower()
        if closing:
            if name in _FORMATTING:
                if formatting.get(name):
                    formatting[name] -= 1
                    open_formatting -= 1
            elif name in stack:
                while stack.pop() != name:
                    pass
        elif name in _FORMATTING:
            if open_formatting >= MAX_OPEN_FORMATTING:
                return False
            formatting[name] = formatting.get(name, 0) + 1
            open_formatting += 1
        elif name not in _VOID and not rest.endswith("/"):
            if name in _SELF_CLOSING and stack and stack[-1] == name:
                stack.pop()
            if len(stack) >= MAX_HTML_DEPTH:
                return False
            stack.append(name)
    return True


# Case-insensitive by hand: re.IGNORECASE makes this scan several times slower.
_FORMATTING_START = re.compile(
    r"<(?:[abisuABISU]|[bB][iI][gG]|[cC][oO][dD][eE]|[eE][mM]|[fF][oO][nN][tT]|[nN][oO][bB][rR]"
    r"|[sS][mM][aA][lL][lL]|[sS][tT][rR][iI][kK][eE]|[sS][tT][rR][oO][nN][gG]|[tT][tT])[\s/>]"
)
# Like _ANY_TAG, without the attributes (what findall() returns).
_TAG_NAMES = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)([^<>]*)>")


# -- text ----------------------------------------------------------------------------

_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "aside", "nav", "blockquote",
    "table", "tr", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "center",
    "form", "hr", "address", "figure", "main",
}  # fmt: skip
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol", "pre"}
_SKIP = {"script", "style", "head", "title", "noscript", "template", "xml"}
_WS = re.compile(r"[ \t\r\n\f\u200b]+")
_MANY_BLANKS = re.compile(r"\n{3,}")
# Marks where a signature block starts in the rendered text; never in the input.
_SIGNATURE_MARK = "\x00"


class _TextRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # one [counter] per open list; -1 for unordered
        self.links: list[tuple[str, int]] = []
        self.signature_marked = False

    def _newlines(self, count: int) -> None:
        text = "".join(self.out[-3:])
        have = len(text) - len(text.rstrip("\n")) if text.strip(" ") else count
        if self.out:
            self.out.append("\n" * max(0, count - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.signature_marked and attrs:
            values = dict(attrs)
            classes = set((values.get("class") or "").split())
            if classes & _SIGNATURE_CLASSES or values.get("data-smartmail") == "gmail_signature":
                self.signature_marked = True
                self._newlines(1)
                self.out.append(_SIGNATURE_MARK)
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self._newlines(1)
            depth = max(0, len(self.lists) - 1)
            if self.lists and self.lists[-1][0] >= 0:
                self.lists[-1][0] += 1
                self.out.append(f"{'  ' * depth}{self.lists[-1][0]}. ")
            else:
                self.out.append(f"{'  ' * depth}- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in _BLOCK:
            self._newlines(2 if tag in _PARAGRAPH else 1)
            if tag in ("ul", "ol"):
                self.lists.append([0 if tag == "ol" else -1])
            elif tag == "pre":
                self.pre += 1
            elif tag == "hr":
                self.out.append("-" * 20 + "\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href, len(self.out)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.out.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = "".join(self.out[start:]).strip()
            target = href.removeprefix("mailto:")
            if href.startswith(("http:", "https:", "mailto:")) and target not in text:
                self.out.append(f" <{href.removeprefix('mailto:')}>")
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._newlines(2)
        elif tag in _BLOCK or tag == "li":
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._newlines(2 if tag in _PARAGRAPH else 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = data.replace(_SIGNATURE_MARK, "")
        if not self.pre:
            data = _WS.sub(" ", data)
            if self.out and self.out[-1].endswith((" ", "\n")) and data.startswith(" "):
                data = data[1:]
        self.out.append(data)


@dataclass(slots=True)
class RenderedHtml:
    text: str
    # Where a signature block the HTML marks (Gmail's, Thunderbird's) starts in `text`.
    signature_at: int | None = None


def _render(html: str) -> RenderedHtml:
    renderer = _TextRenderer()
    try:
        renderer.feed(html)
        renderer.close()
    except Exception:  # noqa: S110 - HTMLParser is lenient; keep what was rendered
        pass
    raw = "".join(renderer.out).replace("\xa0", " ")
    head, marked, _ = raw.partition(_SIGNATURE_MARK)
    text = _normalise(raw.replace(_SIGNATURE_MARK, "")) if marked else _normalise(raw)
    before = len(_normalise(head)) if marked else 0
    return RenderedHtml(text, before or None)


def _normalise(text: str) -> str:
    lines = [line.strip(" ") for line in text.split("\n")]
    return _MANY_BLANKS.sub("\n\n", "\n".join(lines)).strip()


def render_html(html: str) -> RenderedHtml:
    """Readable text of sanitised HTML (sanitize()'s output: well-formed, so the
    stdlib's HTML parser reads it in linear time), and where its signature starts."""
    return _render(html)


def html_to_text(html: str) -> str:
    """Readable plain text: paragraphs, lists and link targets kept."""
    return _render(html).text
