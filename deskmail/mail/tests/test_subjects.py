import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskmail.mail.subjects import find_tag, find_tags, normalise, strip_prefixes


@pytest.mark.parametrize(
    "subject",
    [
        "Printer broken",
        "Re: Printer broken",
        "RE: FW: Printer broken",
        "re:Printer broken",
        "Re: Re: Re: Printer broken",
        "Fwd: Printer broken",
        "AW: WG: Printer broken",
        "SV: VS: TR: Printer broken",
        "Réf. : Printer broken",
        "Antw: Printer broken",
        "回复：Printer broken",
        "转发: Printer broken",
        "Re[2]: Printer broken",
        "RE: [SUP#12] Printer   broken",
        "[SUP#12] Re: PRINTER BROKEN",
        "  Printer\tbroken  ",
    ],
)
def test_it_normalises_reply_and_forward_prefixes_away(subject):
    assert normalise(subject) == "printer broken"


def test_it_keeps_words_that_only_start_like_a_prefix():
    assert normalise("Regarding invoices") == "regarding invoices"
    assert normalise("Trouble: login") == "trouble: login"


def test_it_removes_our_tag_anywhere():
    assert normalise("Printer broken [SUP#12]") == "printer broken"


def test_it_keeps_the_case_of_a_stripped_subject():
    assert strip_prefixes("Re: AW: [SUP#3] Printer Broken") == "Printer Broken"


def test_it_finds_only_the_mailbox_key():
    assert find_tag("Re: [OTH#5] [sup#77] x", "SUP") == 77
    assert find_tag("Re: [OTH#5] x", "SUP") is None
    assert [t.number for t in find_tags("[A#1] [B#2]")] == [1, 2]


@given(st.text())
def test_normalising_twice_changes_nothing(subject):
    once = normalise(subject)
    assert normalise(once) == once


@given(st.sampled_from(["Re: ", "AW:", "Fwd: ", "回复：", "SV:", "[SUP#7] "]), st.text())
def test_a_prefix_never_changes_the_normalised_subject(prefix, subject):
    assert normalise(prefix + subject) == normalise(subject)
