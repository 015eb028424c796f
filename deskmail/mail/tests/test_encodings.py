"""Headers and bodies in every encoding and charset real senders use."""

from __future__ import annotations

import datetime as dt

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
