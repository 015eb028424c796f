"""HTML bodies: sanitised for the console, rendered to readable text for rules and search."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

_TAGS = nh3.ALLOWED_TAGS | {"font", "tfoot"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"title", "dir", "lang", "style"},
    "font": {"color", "face", "size"},
    "td": nh3.ALLOWED_ATTRIBUTES["td"] | {"valign", "width", "bgcolor"},
    "table": nh3.ALLOWED_ATTRIBUTES["table"] | {"width", "cellpadding", "cellspacing", "border"},
}
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
# cid: keeps inline images resolvable against the message's attachments.
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_DROP_CONTENT = {"script", "style", "title", "noscript", "template", "xml"}


def sanitize(html: str) -> str:
    """HTML safe to show an agent: no scripts, handlers, forms, frames or javascript: URLs."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_DROP_CONTENT,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "aside", "nav", "blockquote",
    "table", "tr", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "center",
    "form", "hr", "address", "figure", "main",
}  # fmt: skip
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol", "pre"}
_SKIP = {"script", "style", "head", "title", "noscript", "template", "xml"}
_WS = re.compile(r"[ \t\r\n\f\u200b]+")
_MANY_BLANKS = re.compile(r"\n{3,}")


class _TextRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # one [counter] per open list; -1 for unordered
        self.links: list[tuple[str, int]] = []

    def _newlines(self, count: int) -> None:
        text = "".join(self.out[-3:])
        have = len(text) - len(text.rstrip("\n")) if text.strip(" ") else count
        if self.out:
            self.out.append("\n" * max(0, count - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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
        if not self.pre:
            data = _WS.sub(" ", data)
            if self.out and self.out[-1].endswith((" ", "\n")) and data.startswith(" "):
                data = data[1:]
        self.out.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text: paragraphs, lists and link targets kept."""
    renderer = _TextRenderer()
    try:
        renderer.feed(html)
        renderer.close()
    except Exception:  # noqa: S110 - HTMLParser is lenient; keep what was rendered
        pass
    lines = [line.strip(" ") for line in "".join(renderer.out).replace("\xa0", " ").split("\n")]
    return _MANY_BLANKS.sub("\n\n", "\n".join(lines)).strip()
