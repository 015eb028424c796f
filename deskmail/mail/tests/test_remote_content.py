"""Sanitised HTML loads nothing from the network by itself; remote URLs stay as data."""

from __future__ import annotations

import re

from deskmail.mail import parse_bytes
from deskmail.mail.html import restore_remote_content, sanitize

TRACKING = (
    '<p>Hi<img src="https://t.example/pixel.gif" width="1" height="1">'
    '<img src="//t.example/p2.gif" srcset="https://t.example/a.png 1x, https://t.example/b.png 2x">'
    '<img src="cid:logo@x" alt="logo"><img src="images/relative.png"></p>'
    '<table background="http://t.example/bg.png"><tr>'
    "<td style=\"background-image: url('https://t.example/cell.png'); color: red\">x</td>"
    "</tr></table>"
    '<div style="background: url(https://t.example/div.png) no-repeat">y</div>'
)
LIVE = re.compile(r"""\s(?:src|srcset|background)="(?!cid:)|url\(""", re.IGNORECASE)


def test_it_keeps_remote_resources_only_as_inert_data():
    html = sanitize(TRACKING)
    assert LIVE.search(html) is None, html
    assert 'data-remote-src="https://t.example/pixel.gif"' in html
    assert 'data-remote-src="//t.example/p2.gif"' in html
    assert 'data-remote-candidates="https://t.example/a.png 1x, https://t.example/b.png 2x"' in html
    assert 'data-remote-background="http://t.example/bg.png"' in html
    assert 'data-remote-background="https://t.example/cell.png"' in html
    assert 'style="color:red"' in html.replace(" ", "")
    assert 'src="cid:logo@x"' in html
    assert "relative.png" not in html


def test_it_makes_a_parsed_messages_html_inert():
    raw = (
        b"From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + TRACKING.encode()
    )
    html = parse_bytes(raw).body_html
    assert html is not None
    assert LIVE.search(html) is None


def test_it_restores_remote_content_on_purpose_and_only_over_http():
    html = sanitize(TRACKING + '<img data-remote-src="javascript:alert(1)">')
    restored = restore_remote_content(html)
    assert 'src="https://t.example/pixel.gif"' in restored
    assert 'srcset="https://t.example/a.png 1x, https://t.example/b.png 2x"' in restored
    assert 'background="https://t.example/cell.png"' in restored
    assert "background-image:url(https://t.example/div.png)" in restored
    assert "javascript" not in restored


def test_it_sanitises_its_own_output_unchanged():
    html = sanitize(TRACKING)
    assert sanitize(html) == html


def test_it_does_not_trust_inert_attributes_the_sender_wrote():
    html = sanitize('<img data-remote-src="javascript:alert(1)"><p data-remote-src="x">a</p>')
    assert "javascript" not in html
    assert "data-remote-src" not in html
