"""MIME structure: alternatives, inline images, forwards, reports, TNEF, broken boundaries."""

from __future__ import annotations

import re

from deskmail.mail import parse_bytes
from deskmail.mail.tests.conftest import FIXTURES


def test_it_takes_text_and_html_from_an_alternative(parse_fixture):
    message = parse_fixture("reply-gmail.eml")
    assert message.body_text.startswith("Thanks, that fixed it!")
    assert message.body_html is not None and "gmail_quote" not in message.body_text
    assert "One more question" in message.body_html


def test_it_keeps_inline_images_resolvable_by_content_id(parse_fixture):
    message = parse_fixture("related-inline-image.eml")
    assert message.body_html is not None
    cids = re.findall(r'src="cid:([^"]+)"', message.body_html)
    assert cids == ["E4C1B0A2-5D1F-4C7E-9B9A-1F2E3D4C5B6A@home"]
    (image,) = message.attachments
    assert image.content_id == cids[0]
    assert image.inline is True
    assert image.filename == "error.png"
    assert image.content_type == "image/png"
    assert message.body_text.startswith("Here is the error I get:")


def test_it_keeps_a_forwarded_message_as_an_eml_attachment(parse_fixture):
    message = parse_fixture("forwarded-rfc822.eml")
    (forwarded,) = message.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "Your invoice INV-2025-0042.eml"
    assert forwarded.data is not None
    assert b"Message-ID: <inv-0042@vendor.example>" in forwarded.data
    assert b"please find your invoice INV-2025-0042" in forwarded.data
    # The forward's own text is the body; the attached mail's text is not.
    assert "the amount is twice what we agreed on in December." in message.body_text
    assert "Dear Tom" not in message.body_text


def test_it_unflows_format_flowed_text(parse_fixture):
    message = parse_fixture("forwarded-rfc822.eml")
    assert "the amount is twice what we agreed on in December. Can you check?" in message.body_text


def test_it_unpacks_winmail_dat_into_its_files(parse_fixture):
    message = parse_fixture("winmail-tnef.eml")
    names = sorted(a.filename for a in message.attachments)
    assert names == ["Angebot 2025-017.docx", "Stueckliste.csv"]
    csv = next(a for a in message.attachments if a.filename == "Stueckliste.csv")
    assert csv.data == b"Artikel;Menge\nSchraube M6;500\nMutter M6;500\n"
    assert csv.content_type == "text/csv"
    assert "anbei das Angebot und die Stückliste." in message.body_text


def test_it_reads_parts_whose_closing_boundaries_are_missing(parse_fixture):
    message = parse_fixture("broken-boundaries.eml")
    assert "Thank you for order 5531. It ships tomorrow." in message.body_text
    assert message.body_html is not None and "<b>5531</b>" in message.body_html
    (pdf,) = message.attachments
    assert pdf.filename == "order-5531.pdf"
    assert pdf.data == b"%PDF-1.4\n% order 5531\n"
    assert any("close boundary" in d or "boundary" in d for d in message.defects)


def test_it_reads_a_multipart_whose_boundary_never_occurs_as_text(parse_fixture):
    message = parse_fixture("wrong-boundary.eml")
    assert "Open tickets this week: 14." in message.body_text
    assert message.defects


def test_it_names_attachments_that_came_without_a_filename(parse_fixture):
    message = parse_fixture("no-filename-attachment.eml")
    names = [a.filename for a in message.attachments]
    assert names == ["attachment-1.pdf", "invite.ics", "attachment-3.bin"]
    assert message.attachments[0].data == b"%PDF-1.4\n% scan 0001\n"
    assert message.body_text == "Scanned on MFP-3F."


def test_it_reports_a_delivery_status_notification_as_two_attachments(parse_fixture):
    message = parse_fixture("dsn-bounce.eml")
    types = [a.content_type for a in message.attachments]
    assert types == ["message/delivery-status", "text/rfc822-headers"]
    assert message.body_text.startswith("This is the mail system at host mx.example.com.")


def test_it_sanitises_html_bodies(parse_fixture):
    html = parse_fixture("html-only.eml").body_html
    assert html is not None
    lowered = html.lower()
    for forbidden in (
        "<script",
        "onload",
        "onerror",
        "javascript:",
        "<meta",
        "<base",
        "<link",
        "<style",
        "url(",
        "srcset",
        "<form",
        "<input",
        "<iframe",
        "<svg",
        "document.cookie",
        "evil.example",
    ):
        assert forbidden not in lowered, forbidden
    assert 'src="cid:logo@sofia"' in html
    assert 'href="https://status.example.com/incidents/42"' in html
    assert "color:#333333" in html.replace(" ", "")


def test_it_renders_html_only_mail_to_readable_text(parse_fixture):
    text = parse_fixture("html-only.eml").body_text
    assert text.startswith("Hello support team,\n\nsince Monday the report export fails.")
    assert "1. Exporting as CSV\n2. Exporting as PDF" in text
    assert "- Chrome 132\n- Firefox 134" in text
    assert "your status page <https://status.example.com/incidents/42>" in text
    assert "Kind regards,\nSofia Marques" in text
    assert "Report export" not in text  # the <title>
    assert "document.location" not in text and "margin" not in text


def test_it_leaves_body_html_empty_for_text_only_mail(parse_fixture):
    message = parse_fixture("text-only.eml")
    assert message.body_html is None
    assert message.body_text == "Hi,\n\nplease renew our licence for another year.\n\nLars"
    assert message.attachments == []


def test_it_keeps_the_forwarded_message_byte_for_byte(parse_fixture):
    raw = (FIXTURES / "forwarded-rfc822.eml").read_bytes()
    (forwarded,) = parse_fixture("forwarded-rfc822.eml").attachments
    assert forwarded.data is not None
    assert forwarded.data.startswith(b"Return-Path: <billing@vendor.example>\r\n")
    assert forwarded.data in raw


def test_it_reads_a_multipart_without_a_boundary_parameter_as_text():
    raw = (
        b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\n"
        b"Nobody told me the boundary.\r\n"
    )
    message = parse_bytes(raw)
    assert message.body_text == "Nobody told me the boundary."
    assert any("boundary" in d for d in message.defects)


def test_it_finds_the_history_in_an_html_only_outlook_reply():
    html = (
        '<div class="WordSection1"><p class="MsoNormal">Still broken, sorry.</p>'
        '<p class="MsoNormal">Ivo</p><div><div style="border:none;border-top:solid #E1E1E1 1.0pt">'
        '<p class="MsoNormal"><b>From:</b> Example Support &lt;support@example.com&gt;<br>'
        "<b>Sent:</b> Monday, February 3, 2025 9:12 AM<br><b>To:</b> Ivo &lt;ivo@x.example&gt;"
        "<br><b>Subject:</b> Login fails</p></div></div><p>Please clear the cache.</p></div>"
    )
    raw = (
        b"From: Ivo <ivo@x.example>\r\nSubject: RE: Login fails\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    )
    message = parse_bytes(raw)
    assert message.reply_text == "Still broken, sorry.\n\nIvo"
    assert "Please clear the cache." in message.body_text


def test_it_names_the_type_of_a_generic_attachment_by_its_extension():
    raw = (
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nInvoice attached.\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="invoice.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    (attachment,) = parse_bytes(raw).attachments
    assert (attachment.filename, attachment.content_type) == ("invoice.pdf", "application/pdf")


def test_it_marks_images_the_html_shows_as_inline_wherever_they_sit():
    raw = (
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b'--b\r\nContent-Type: text/html\r\n\r\n<p>See <img src="cid:chart@x"></p>\r\n'
        b'--b\r\nContent-Type: image/png; name="chart.png"\r\nContent-ID: <chart@x>\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgo=\r\n--b--\r\n"
    )
    (image,) = parse_bytes(raw).attachments
    assert image.content_id == "chart@x"
    assert image.inline is True


def test_it_never_joins_a_flowed_quoted_line_to_the_unquoted_line_after_it():
    raw = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
        b"> Can you check the invoice \r\n> for March? \r\nI checked it, \r\nall fine.\r\n"
    )
    message = parse_bytes(raw)
    assert message.body_text == "> Can you check the invoice for March? \nI checked it, all fine."
