"""Hostile mail, sent as real emails through the pipeline and opened in a real browser:
nothing runs, no dialog opens, and no request leaves for another host.

The console fixture fails the test on any request for another host (it blocks
and records them), any dialog, and any Content-Security-Policy violation.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from deskmail.console.tests.conftest import PNG
from deskmail.ingest.api import ingest
from deskmail.testing.browser import Console
from deskmail.tickets.models import Ticket

pytestmark = pytest.mark.browser

SET = "window.__pwned = 1; parent.__pwned = 1; top.__pwned = 1; alert(1)"
# (name, HTML part). Each is a known way past a sanitiser or a browser's defences.
HTML_PAYLOADS = [
    ("script", f"<script>{SET}</script><p>plain script</p>"),
    (
        "event handlers",
        f'<img src="x" onerror="{SET}"><body onload="{SET}"><p onmouseover="{SET}">hover</p>',
    ),
    (
        "javascript url",
        f'<a href="javascript:{SET}">click me</a><a href=" JaVaScRiPt:{SET}">again</a>',
    ),
    (
        "data url",
        f'<a href="data:text/html,<script>{SET}</script>">data link</a>'
        f'<img src="data:image/svg+xml,<svg onload=&quot;{SET}&quot;>">',
    ),
    (
        "svg",
        f'<svg><script>{SET}</script><animate onbegin="{SET}" attributeName="x"/></svg>'
        f'<svg onload="{SET}"><a xlink:href="javascript:{SET}"><text>svg link</text></a></svg>',
    ),
    (
        "css",
        "<style>body{background:url(https://evil.example/css-bg.png)}</style>"
        '<div style="background-image:url(https://evil.example/style-bg.png);'
        'behavior:url(https://evil.example/x.htc)">css</div>'
        '<link rel="stylesheet" href="https://evil.example/x.css">',
    ),
    (
        "mutation",
        f'<noscript><p title="</noscript><img src=x onerror={SET}>"></noscript>'
        "<math><mtext><table><mglyph><style>"
        f'<img src=x onerror="{SET}"></style></mglyph></table></mtext></math>'
        f'<svg></p><style><a id="</style><img src=1 onerror="{SET}">"></a></style></svg>'
        '<form><math><mtext></form><form><mglyph><svg><mtext><textarea><path id="</textarea>'
        f"<img onerror='{SET}' src=1>\"></path></textarea>"
        "</mtext></svg></mglyph></form></math></form>",
    ),
    (
        "frames and objects",
        f'<iframe src="javascript:{SET}"></iframe><iframe srcdoc="<script>{SET}</script>"></iframe>'
        '<object data="https://evil.example/o.swf"></object><embed src="https://evil.example/e.swf">'
        '<meta http-equiv="refresh" content="0;url=https://evil.example/refresh">'
        '<base href="https://evil.example/"><img src="relative.png" alt="rel">',
    ),
    (
        "remote resources",
        '<img src="https://evil.example/track.gif" alt="tracker">'
        '<img srcset="https://evil.example/srcset.png 1x" alt="srcset">'
        '<video poster="https://evil.example/poster.png"></video>'
        '<table background="https://evil.example/table.png"><tr><td>t</td></tr></table>'
        '<input type="image" src="https://evil.example/input.png">'
        '<form action="https://evil.example/form"><button>go</button></form>',
    ),
]
# Words shown by the console itself (escaped by the templates, never HTML).
TEXT_PAYLOAD = f'"><img src=x onerror="{SET}"><script>{SET}</script>'


def _mail(team, name: str, html: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = f'"{TEXT_PAYLOAD}" <attacker@evil.example>'
    mail["To"] = team.north.address
    mail["Subject"] = f"XSS {name} {TEXT_PAYLOAD}"
    mail.set_content(f"text part {TEXT_PAYLOAD}")
    mail.add_alternative(html, subtype="html")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename=f"{TEXT_PAYLOAD}.png")
    mail.add_attachment(
        f"<svg xmlns='http://www.w3.org/2000/svg' onload='{SET}'/>".encode(),
        maintype="image",
        subtype="svg+xml",
        filename="vector.svg",
    )
    return mail.as_bytes()


def _assert_nothing_ran(page) -> None:
    assert page.evaluate("window.__pwned") is None
    for frame in page.frames:
        assert frame.url == "" or frame.url.startswith(("http://127.0.0.1", "about:")), frame.url


@pytest.mark.parametrize(("name", "html"), HTML_PAYLOADS, ids=[n for n, _ in HTML_PAYLOADS])
def test_hostile_mail_runs_nothing_and_loads_nothing_remote(console: Console, team, name, html):
    result = ingest(team.north, _mail(team, name, html))
    assert result.ticket is not None
    ticket = Ticket.objects.get(pk=result.ticket.pk)
    page = console.sign_in(team.nora)
    _assert_nothing_ran(page)

    page.goto(f"{console.url}/t/{ticket.number}/")
    if page.get_by_text("Show formatted version").count():  # nothing may be left to show
        page.get_by_text("Show formatted version").first.click()
        frame_element = page.locator("iframe.mail-html").first
        frame_element.wait_for()
        frame = frame_element.content_frame
        frame.locator("body").wait_for()
        for link in frame.get_by_role("link").all():
            link.click(modifiers=["Shift"], no_wait_after=True)  # a window, if it could run
        assert sandbox_of(page) == "allow-popups allow-popups-to-escape-sandbox"
    page.get_by_role("link", name=re.compile(r"\.png$")).first.hover()
    page.goto(
        f"{console.url}/attachments/{ticket.messages.get().attachments.get(filename='vector.svg').pk}/preview/"
    )
    page.go_back()

    _assert_nothing_ran(page)
    assert console.left == [] and console.dialogs == []


def sandbox_of(page) -> str:
    return page.locator("iframe.mail-html").first.get_attribute("sandbox") or ""


def test_showing_remote_content_once_asks_the_remote_host_only_then(console: Console, team):
    result = ingest(
        team.north, _mail(team, "remote", '<img src="https://cdn.example/logo.png" alt="logo">')
    )
    ticket = Ticket.objects.get(pk=result.ticket.pk)
    page = console.sign_in(team.nora)
    page.goto(f"{console.url}/t/{ticket.number}/")
    page.get_by_text("Show formatted version").first.click()
    page.locator("iframe.mail-html").first.content_frame.locator("body").wait_for()
    assert page.get_by_text("Remote content hidden").is_visible()
    assert console.left == []

    with page.expect_event("requestfailed", lambda r: r.url == "https://cdn.example/logo.png"):
        page.get_by_role("button", name="Show once").click()

    assert console.left == ["https://cdn.example/logo.png"]
    console.left.clear()  # asked for by the agent: not a leak
