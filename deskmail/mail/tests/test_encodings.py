"""Headers and bodies in every encoding and charset real senders use."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from deskmail.mail import parse_bytes
from deskmail.mail.headers import decode_header


def test_it_joins_encoded_words_that_split_a_character(parse_fixture):
    message = parse_fixture("encoded-words.eml")
    # "w6nD" ends with the first byte of the second "é"; "qQ==" carries the rest.
    assert message.header("x-split-character") == "éé"


def test_it_decodes_the_subject_across_folded_encoded_words(parse_fixture):
    message = parse_fixture("encoded-words.eml")
    assert message.subject == "Dringend: Rücküberweisung für Bestellung № 4711"


def test_it_decodes_malformed_encoded_words(parse_fixture):
    message = parse_fixture("encoded-words.eml")
    assert message.header("thread-topic") == "äöü und mehr"  # no space between words
    assert message.header("x-missing-padding") == "Grüße"
    assert message.header("x-unknown-charset") == "Grüße"


def test_it_decodes_encoded_display_names(parse_fixture):
    message = parse_fixture("encoded-words.eml")
    assert message.from_name == "Jürgen Müller"
    assert message.from_address == "jurgen.muller@example.de"
    assert message.to[0].name == "Kundendienst München"


def test_it_decodes_encoded_words_with_lowercase_and_question_marks():
    assert decode_header("=?utf-8?q?caf=C3=A9?=") == "café"
    assert decode_header("=?utf-8?Q?a?b?=") == "a?b"
    assert decode_header("prefix=?utf-8?q?_x?=") == "prefix x"
    assert decode_header("=?utf-8?B?w6k?=") == "é"  # missing padding


def test_it_reads_rfc2231_continued_filenames(parse_fixture):
    message = parse_fixture("rfc2231-attachment.eml")
    names = [a.filename for a in message.attachments]
    assert "Contrato de Prestação de Serviços – assinado.pdf" in names
    pdf = next(a for a in message.attachments if a.filename.endswith(".pdf"))
    assert pdf.content_type == "application/pdf"
    assert pdf.data is not None and pdf.data.startswith(b"%PDF-1.4")
    assert pdf.size == len(pdf.data)


def test_it_decodes_encoded_word_filenames(parse_fixture):
    message = parse_fixture("rfc2231-attachment.eml")
    assert "notas da reunião.txt" in [a.filename for a in message.attachments]


def test_it_prefers_utf8_over_a_wrong_declared_charset(parse_fixture):
    message = parse_fixture("wrong-charset.eml")
    assert "Déclaré en Latin-1 mais écrit en UTF-8 : la facture est erronée." in message.body_text
    assert any("iso-8859-1" in d and "UTF-8" in d for d in message.defects)


def test_it_detects_the_charset_when_none_is_declared(parse_fixture):
    message = parse_fixture("wrong-charset.eml")
    assert "ce paragraphe français est écrit en Windows-1252" in message.body_text
    assert "très bien reçu, merci beaucoup pour votre réponse rapide" in message.body_text
    assert any("detected" in d for d in message.defects)


def test_it_decodes_8bit_headers(parse_fixture):
    message = parse_fixture("eight-bit-headers.eml")
    assert message.from_name == "Zoë Łuczak"
    assert message.subject == "Zamówienie nie dotarło – pilne"
    latin1 = "Grüße aus Köln und schöne Grüße an alle Mitarbeiter"
    assert message.header("x-latin1-header") == latin1
    assert "8-bit bytes in a header" in message.defects


def test_it_decodes_every_common_transfer_encoding(parse_fixture):
    message = parse_fixture("transfer-encodings.eml")
    assert "dieser Teil ist Base64-kodiert: Grüße!" in message.body_text
    assert "quoted-printable: Straße, Größe, café – und eine sehr lange Zeile" in message.body_text
    assert "länger als sechsundsiebzig Zeichen ist." in message.body_text
    assert "Und dieser Teil ist 8bit: Übermorgen." in message.body_text
    png = next(a for a in message.attachments if a.filename == "pixel.png")
    assert png.data is not None and png.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_it_decodes_x_uuencode_without_begin_and_end_lines(parse_fixture):
    message = parse_fixture("transfer-encodings.eml")
    csv = next(a for a in message.attachments if a.filename == "kontoauszug.csv")
    rows = ["Datum;Betrag;Status", "2025-01-02;120,00 €;offen", "2025-01-09;75,50 €;bezahlt"]
    assert csv.data == ("\n".join(rows) + "\n").encode()


def test_it_takes_uuencoded_blocks_out_of_plain_text(parse_fixture):
    message = parse_fixture("uuencoded-body.eml")
    assert [a.filename for a in message.attachments] == ["device-report.txt"]
    report = b"Serial: 88-1234\nFirmware: 2.4.1\nError: E42 at boot\n"
    assert message.attachments[0].data == report * 3
    assert "begin 644" not in message.body_text
    assert "the device report is below" in message.body_text
    assert "Walter" in message.body_text


def test_it_reads_dates_as_timezone_aware(parse_fixture):
    message = parse_fixture("encoded-words.eml")
    assert message.date == dt.datetime(2025, 1, 14, 8, 41, 9, tzinfo=dt.UTC)
    assert message.date.utcoffset() == dt.timedelta(hours=1)


def test_it_decodes_iso_2022_jp_with_microsoft_extension_characters():
    # NEC row 13 in JIS X 0208: circled one and two, roman numeral one; then "こんにちは".
    body = b'\x1b$B-!-"-5$3$s$K$A$O\x1b(B OK\r\n'
    raw = (
        b"From: a@example.jp\r\nSubject: =?ISO-2022-JP?B?GyRCLSEbKEI=?= test\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n" + body
    )
    message = parse_bytes(raw)
    assert message.body_text == "①②Ⅰこんにちは OK"
    assert message.subject == "① test"
    assert not [d for d in message.defects if "iso" in d.lower() or "charset" in d]


@pytest.mark.parametrize(
    "label",
    ["zlib", "hex", "base64", "uu", "rot13", "idna", "punycode", "bz2", "quopri",
     "unicode_escape", "undefined", "x-made-up-\\u0000", "utf-8\x00"],
)  # fmt: skip
def test_it_never_lets_a_charset_label_empty_the_message(label):
    raw = (
        f"From: Ann <ann@example.com>\r\nSubject: =?{label}?Q?=FF=FE=00=81?= Rechnung\r\n"
        f"Message-ID: <charset-{len(label)}@example.com>\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset={label}\r\n\r\nGr\xfc\xdfe aus K\xf6ln\r\n"
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nzweiter Teil\r\n--b--\r\n"
    ).encode("latin-1")
    message = parse_bytes(raw)
    assert message.from_address == "ann@example.com"
    assert message.subject.endswith("Rechnung")
    assert message.message_id == f"charset-{len(label)}@example.com"
    assert "Grüße aus Köln" in message.body_text
    assert "zweiter Teil" in message.body_text
    assert not [d for d in message.defects if "could not be read" in d or "unreadable" in d]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    if hasattr(value, "__slots__"):
        return [s for name in value.__slots__ for s in _strings(getattr(value, name))]
    return []


def test_it_leaves_no_surrogates_in_any_field():
    raw = (
        b"From: MAILER-DAEMON@mx.example.com\r\nTo: support@example.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nReferences: <r\xe9f@x>\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Final-Recipient: rfc822; m\xfcller@remote.example\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 Benutzer unbekannt: M\xfcller\r\n\r\n"
        b'--b\r\nContent-Type: image/p\xffng; name="a.png"\r\nContent-ID: <\xfe@x>\r\n\r\nxx\r\n'
        b"--b--\r\n"
    )
    message = parse_bytes(raw)
    assert message.bounce_info is not None
    assert message.bounce_info.recipients == ["müller@remote.example"]
    for text in _strings(message.__dict__ if hasattr(message, "__dict__") else message):
        text.encode("utf-8")  # raises on any surrogate


def test_it_prints_valid_utf8_json_for_undecoded_bytes_in_a_bounce(tmp_path):
    raw = (
        b"From: MAILER-DAEMON@mx.example.com\r\nSubject: failure notice\r\n\r\n"
        b"<j\xf6rg@remote.example>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n"
    )
    source = tmp_path / "bounce.eml"
    source.write_bytes(raw)
    out = subprocess.run(
        [sys.executable, "-m", "deskmail.cli", "parse", "--json", str(source)],
        capture_output=True,
        check=True,
        env={**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": "ascii"},
    )
    data = json.loads(out.stdout.decode("utf-8"))
    assert data["bounce_info"]["recipients"] == ["jörg@remote.example"]
