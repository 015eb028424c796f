"""The mailbox header filter as an IMAP SEARCH."""

from __future__ import annotations

import pytest

from deskmail.connectors.imap import header_filter_to_search


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("", "UNSEEN"),
        (None, "UNSEEN"),
        ("x-antivirus-report", 'UNSEEN HEADER "x-antivirus-report" ""'),
        ("x-antivirus-report=SAFE", 'UNSEEN HEADER "x-antivirus-report" "SAFE"'),
        (
            "x-antivirus-report=SAFE,x-antispam-evaluation-time",
            'UNSEEN HEADER "x-antivirus-report" "SAFE" HEADER "x-antispam-evaluation-time" ""',
        ),
    ],
)
def test_it_translates_the_filter_to_an_imap_search(text: str | None, search: str) -> None:
    assert " ".join(header_filter_to_search(text)) == search


def test_it_lowercases_names_and_keeps_the_case_of_values() -> None:
    assert header_filter_to_search(" X-Antivirus-Report = Safe ") == [
        "UNSEEN",
        "HEADER",
        '"x-antivirus-report"',
        '"Safe"',
    ]


def test_it_quotes_a_value_with_a_double_quote() -> None:
    assert header_filter_to_search('x-tag=a"b')[-1] == '"a\\"b"'


@pytest.mark.parametrize("text", ["bad name=1", "x-a:b=1", "=SAFE"])
def test_it_rejects_a_malformed_header_name(text: str) -> None:
    with pytest.raises(ValueError):
        header_filter_to_search(text)
