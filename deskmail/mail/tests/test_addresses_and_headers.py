"""Addresses as senders write them, header access, identifiers and dates."""

from __future__ import annotations

import datetime as dt

from deskmail.mail import parse_bytes
from deskmail.mail.addresses import parse_addresses


def test_it_takes_the_comment_as_the_display_name(parse_fixture):
    message = parse_fixture("address-quirks.eml")
    assert (message.from_address, message.from_name) == ("marc.smith@example.com", "Marc Smith")


def test_it_uses_the_angle_address_when_the_name_looks_like_an_address(parse_fixture):
    message = parse_fixture("address-quirks.eml")
    assert message.to[0].address == "bob@example.com"
    assert message.to[0].name == "alice@example.com"


def test_it_keeps_an_unquoted_comma_name_with_its_address(parse_fixture):
    message = parse_fixture("address-quirks.eml")
    assert [(a.name, a.address) for a in message.to] == [
        ("alice@example.com", "bob@example.com"),
        ("Charlie Brown", "charlie@example.com"),
        ("Doe, John", "john.doe@example.com"),
    ]


def test_it_decodes_names_and_keeps_addresses_with_spaces(parse_fixture):
    message = parse_fixture("address-quirks.eml")
    assert [(a.name, a.address) for a in message.cc] == [
        ("Renée O'Neil", "renee@example.ie"),
        ("your secret past", "power quadrant system@example.com"),
    ]


def test_it_reads_group_syntax(parse_fixture):
    message = parse_fixture("address-quirks.eml")
    assert [a.address for a in message.reply_to] == ["ops@example.com", "dev@example.com"]


def test_it_decodes_an_encoded_word_inside_the_address():
    (address,) = parse_addresses(["=?utf-8?Q?agent?=@Example.com"])
    assert address.address == "agent@example.com"


def test_it_lower_cases_addresses_but_not_names():
    (address,) = parse_addresses(['"McDonald, Ian" <Ian.McDonald@Example.COM>'])
    assert (address.name, address.address) == ("McDonald, Ian", "ian.mcdonald@example.com")


def test_it_exposes_every_header_by_lower_cased_name(parse_fixture):
    raw = (
        b"From: a@example.com\r\nX-Loop: support@example.com\r\nImportance: High\r\n"
        b"X-Priority: 1 (Highest)\r\nList-Id: Customers <customers.lists.example.com>\r\n"
        b"Delivered-To: support@example.com\r\nDelivered-To: help@example.com\r\n"
        b"X-Custom-Filter: =?utf-8?q?gepr=C3=BCft?=\r\nSubject: s\r\n\r\nbody\r\n"
    )
    message = parse_bytes(raw)
    assert message.header("X-Loop") == "support@example.com"
    assert message.header("importance") == "High"
    assert message.header("x-priority") == "1 (Highest)"
    assert message.header("list-id") == "Customers <customers.lists.example.com>"
    assert message.headers["delivered-to"] == ["support@example.com", "help@example.com"]
    assert message.header("x-custom-filter") == "geprüft"
    assert message.header("x-absent") is None


def test_it_strips_brackets_and_folding_from_message_ids():
    raw = (
        b"From: a@example.com\r\nMessage-ID:\r\n <folded.id@example.com>\r\n"
        b"In-Reply-To: Your message of Monday <parent@example.com>\r\n"
        b"References: <root@example.com>\r\n <parent@example.com>\r\n\r\nbody\r\n"
    )
    message = parse_bytes(raw)
    assert message.message_id == "folded.id@example.com"
    assert message.in_reply_to == "parent@example.com"
    assert message.references == ["root@example.com", "parent@example.com"]


def test_it_reads_a_date_without_a_zone_as_utc_with_a_defect():
    message = parse_bytes(b"From: a@example.com\r\nDate: Tue, 4 Feb 2025 12:00:00 -0000\r\n\r\nx")
    assert message.date == dt.datetime(2025, 2, 4, 12, 0, tzinfo=dt.UTC)
    assert any("time zone" in d for d in message.defects)


def test_it_leaves_a_missing_or_unparseable_date_empty_with_a_defect():
    missing = parse_bytes(b"From: a@example.com\r\n\r\nx")
    broken = parse_bytes(b"From: a@example.com\r\nDate: the day before yesterday\r\n\r\nx")
    assert missing.date is None and "no Date header" in missing.defects
    assert broken.date is None and any("unparseable Date" in d for d in broken.defects)


def test_it_reads_obsolete_zone_names():
    message = parse_bytes(b"From: a@example.com\r\nDate: Thu, 2 Aug 2018 16:58:28 CEST\r\n\r\nx")
    assert message.date is not None and message.date.tzinfo is not None


def test_it_repairs_a_header_block_with_junk_and_lost_folding():
    raw = (
        b"---- Forwarded by the web form ----\r\n"
        b"Received: from web.example.com\r\n"
        b"by mx.example.com with ESMTP\r\n"
        b"To: support@example.com\r\n"
        b"From: Form <form@example.com>\r\n"
        b"Subject: Contact request\r\n\r\nHello from the form.\r\n"
    )
    message = parse_bytes(raw)
    assert message.from_address == "form@example.com"
    assert message.subject == "Contact request"
    assert message.header("received") == "from web.example.com by mx.example.com with ESMTP"
    assert message.body_text == "Hello from the form."
    assert any("before the first header" in d for d in message.defects)


def test_it_drops_an_mbox_from_line_before_the_headers():
    raw = b"From alice@example.com Thu Jun 14 17:42:55 2012\nFrom: Alice <alice@example.com>\n\nHi"
    message = parse_bytes(raw)
    assert message.from_address == "alice@example.com"
    assert message.headers["from"] == ["Alice <alice@example.com>"]
    assert "removed the mbox 'From ' line" in message.defects
