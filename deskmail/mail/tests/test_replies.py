"""reply_text: what the sender wrote, without quoted history or signature."""

from __future__ import annotations

import pytest

from deskmail.mail.quotes import extract_reply

MARKER = "##- Please type your reply above this line -##"


@pytest.mark.parametrize(
    ("fixture", "reply"),
    [
        (
            "reply-gmail.eml",
            "Thanks, that fixed it!\n\nOne more question: can I export the data as well?",
        ),
        (
            "reply-outlook-original-message.eml",
            "Hi,\n\nthe error is back since this morning.\n\nRegards\nOliver",
        ),
        ("reply-outlook-web.eml", "Works now, thank you!\n\nGrace"),
        (
            "reply-outlook-de.eml",
            "Hallo,\n\nleider besteht das Problem weiterhin.\n\nViele Grüße\nKlaus Wagner",
        ),
        ("reply-outlook-fr.eml", "Bonjour,\n\nc'est résolu, merci beaucoup.\n\nCamille"),
        ("reply-apple-mail.eml", "Perfect, thanks a lot."),
        ("reply-thunderbird-de.eml", "Hallo,\n\ndanke, jetzt klappt es."),
        ("reply-thunderbird-fr.eml", "Merci, tout fonctionne."),
    ],
)
def test_it_splits_the_reply_from_quoted_history(parse_fixture, fixture, reply):
    message = parse_fixture(fixture)
    assert message.reply_text == reply
    assert len(message.body_text) > len(message.reply_text)


def test_it_cuts_at_the_end_of_message_marker(parse_fixture):
    message = parse_fixture("reply-end-marker.eml", end_marker=MARKER)
    assert message.reply_text == "Yes, please close the ticket.\n\nNora"
    assert MARKER in message.body_text


def test_it_keeps_everything_without_a_marker_when_none_is_given(parse_fixture):
    message = parse_fixture("reply-end-marker.eml")
    assert message.reply_text.startswith("Yes, please close the ticket.")
    assert MARKER in message.reply_text


def test_it_strips_the_signature_after_dash_dash_space():
    assert extract_reply("Done.\n\n-- \nJonas\nCall me: 0221 123456\n") == "Done."


def test_it_keeps_interleaved_answers_between_quotes():
    text = "See below.\n> Does it work?\nYes.\n> Which version?\n2.4.1\n"
    assert extract_reply(text) == "See below.\n> Does it work?\nYes.\n> Which version?\n2.4.1"


def test_it_drops_trailing_quoted_lines():
    assert extract_reply("Agreed.\n\n> old line one\n> old line two\n") == "Agreed."


def test_it_keeps_a_from_line_that_starts_no_header_block():
    text = "From: the logs I see the job ran twice.\nCan you check?"
    assert extract_reply(text) == text
