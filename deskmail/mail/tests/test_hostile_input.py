"""Hostile shapes cost bounded work: caps are defects, and the rest of the mail is kept."""

from __future__ import annotations

from deskmail.mail import parse_bytes
from deskmail.mail.html import MAX_HTML_DEPTH, sanitize
from deskmail.mail.mime import MAX_DEPTH, MAX_PARTS
from deskmail.mail.parser import MAX_BODY_TEXT, MAX_HEADER_FIELDS, MAX_TEXT_PART

HEAD = (
    b"From: Ann <ann@example.com>\r\nTo: support@example.com\r\nSubject: hostile\r\n"
    b"Message-ID: <hostile@example.com>\r\nDate: Mon, 6 Jan 2025 08:28:41 +0000\r\n"
)


def test_it_reads_the_first_parts_of_a_mail_with_too_many():
    parts = b"".join(
        b"--b\r\nContent-Type: application/octet-stream\r\n\r\npart %d\r\n" % i
        for i in range(MAX_PARTS + 500)
    )
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nThe real text.\r\n" + parts + b"--b--\r\n"
    )
    message = parse_bytes(raw)
    assert message.body_text == "The real text."
    assert MAX_PARTS - 5 < len(message.attachments) < MAX_PARTS
    assert any("too many parts" in d for d in message.defects)


def test_it_keeps_the_body_of_deeply_nested_multiparts():
    depth = 3_000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    message = parse_bytes(
        HEAD + b"Content-Type: multipart/mixed; boundary=top\r\n\r\n--top\r\n"
        b"Content-Type: text/plain\r\n\r\nKept text.\r\n--top\r\n" + head + b"\r\ndeep\r\n"
        b"--top--\r\n"
    )
    assert message.body_text == "Kept text."
    assert message.from_address == "ann@example.com"
    assert any(f"{MAX_DEPTH} levels" in d for d in message.defects)
    assert len(message.attachments) == 1  # the part nested too deeply, kept whole


def test_it_keeps_deeply_nested_forwards_as_one_attachment():
    inner = b"From: x@example.com\r\nSubject: innermost\r\n\r\nbody\r\n"
    for _ in range(2_000):
        inner = b"From: x@example.com\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee the forward.\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"--b--\r\n"
    )
    message = parse_bytes(raw)
    assert message.body_text == "See the forward."
    (forward,) = message.attachments
    assert forward.data is not None and forward.data.endswith(b"innermost\r\n\r\nbody")


def test_it_decodes_a_bounded_number_of_header_fields_but_always_its_own():
    junk = b"".join(b"X-Junk-%d: \xe9t\xe9\r\n" % i for i in range(MAX_HEADER_FIELDS + 100))
    raw = junk + HEAD.replace(b"Subject: hostile", b"Subject: Still here") + b"\r\nBody\r\n"
    message = parse_bytes(raw)
    assert (message.from_address, message.subject) == ("ann@example.com", "Still here")
    assert message.message_id == "hostile@example.com"
    assert message.header("x-junk-0") == "été"
    assert message.header(f"x-junk-{MAX_HEADER_FIELDS + 50}") is None
    assert any("beyond the first" in d for d in message.defects)


def test_it_attaches_a_text_part_too_large_for_the_body_whole():
    line = b"x" * 99 + b"\n"
    big = line * (MAX_TEXT_PART // len(line) + 100)
    raw = HEAD + b"Content-Type: text/plain\r\n\r\n" + big
    message = parse_bytes(raw)
    assert 0 < len(message.body_text) <= MAX_TEXT_PART <= MAX_BODY_TEXT
    (whole,) = message.attachments
    assert whole.data == big
    assert any("the whole part is attached" in d for d in message.defects)


def test_it_drops_html_nesting_beyond_its_depth_but_keeps_the_text():
    defects: list[str] = []
    html = sanitize("<div>" * 5_000 + "deep text" + "</div>" * 5_000, defects)
    assert "deep text" in html
    assert html.count("<div>") == MAX_HTML_DEPTH
    assert any("tag(s) dropped" in d for d in defects)


def test_it_limits_formatting_elements_the_html_keeps_open():
    html = "".join(f'<font color="#{i:06x}"><p>para {i}</p>' for i in range(3_000))
    cleaned = sanitize(html)
    assert "para 2999" in cleaned
    assert cleaned.count("<font") < 3_000 * 20


def test_it_removes_a_gmail_html_signature_from_the_reply():
    html = (
        '<div dir="ltr">Thanks, it works now!<br clear="all"><div><br></div>'
        '<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature">'
        "<div>Ann Customer</div><div>Head of Purchasing, ACME</div></div></div><br>"
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">Support wrote on Monday'
        "</div><blockquote>Please try again.</blockquote></div>"
    )
    raw = HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    message = parse_bytes(raw)
    assert message.reply_text == "Thanks, it works now!"
    assert "Ann Customer" in message.body_text


def test_it_keeps_a_bounded_number_of_header_fields_in_the_tree():
    from deskmail.mail.mime import MAX_FIELDS

    junk = b"".join(b"Received: from relay%d\r\n" % i for i in range(MAX_FIELDS + 10))
    message = parse_bytes(junk + HEAD + b"\r\nBody\r\n")
    assert (message.from_address, message.subject) == ("ann@example.com", "hostile")
    assert message.body_text == "Body"
    assert len(message.headers["received"]) < MAX_FIELDS
    assert any("too many headers" in d for d in message.defects)


def test_it_survives_a_meta_element_that_makes_the_html_parser_panic():
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset">'
        "</head><body><p>Still readable.</p></body></html>"
    )
    raw = HEAD + b"Content-Type: text/html\r\n\r\n" + html.encode()
    message = parse_bytes(raw)
    assert message.body_text == "Still readable."
    assert message.body_html == "<p>Still readable.</p>"


def test_it_shows_html_the_sanitiser_cannot_read_as_escaped_text(monkeypatch):
    import deskmail.mail.html as html_module

    class Broken:
        def clean(self, html: str) -> str:
            raise BaseException("panicked")  # what a Rust panic looks like from Python

    monkeypatch.setattr(html_module, "_cleaner", lambda: Broken())
    defects: list[str] = []
    cleaned = sanitize("<p>Tom &amp; Jerry<script>x()</script></p>", defects)
    assert cleaned == "<p>Tom &amp; Jerry x()</p>"
    assert any("could not be sanitised" in d for d in defects)
