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


@pytest.mark.parametrize(
    "attribution",
    [
        "Op ma 3 feb 2025 om 09:12 schreef Example Support <support@example.com>:",
        "Den mån 3 feb. 2025 kl 09:12 skrev Example Support <support@example.com>:",
        "Em seg., 3 de fev. de 2025 às 09:12, Example Support <support@example.com> escreveu:",
        "El lun, 3 feb 2025 a las 9:12, Example Support (<support@example.com>) escribió:",
        "Il giorno lun 3 feb 2025 alle ore 09:12 Example Support <s@example.com> ha scritto:",
        "2025年2月3日(月) 9:12 Example Support <support@example.com>:",
        "Example Support <support@example.com> 于2025年2月3日周一 09:12写道：",
        "2025년 2월 3일 (월) 오전 9:12, Example Support <support@example.com>님이 작성:",
    ],
)
def test_it_recognises_attributions_in_other_languages(attribution):
    text = f"Thanks, solved.\n\n{attribution}\n> Please clear the cache.\n"
    assert extract_reply(text) == "Thanks, solved."


@pytest.mark.parametrize(
    "text",
    [
        "On Monday I wrote to the billing team and they said no.\nCan you help?",
        "Should I write to <billing@example.com>:\nor to you?",
    ],
)
def test_it_keeps_sentences_that_merely_look_like_attributions(text):
    assert extract_reply(text) == text


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, 1 Jan 2026 at 10:00, Ann\nCustomer <ann@example.com> wrote:",
        "3 февраля 2025 г., в 9:12, пользователь Example Support <support@example.com>\nнаписал:",
        "Example Support <support@example.com>, 3 Şub 2025 Pzt, 09:12 tarihinde şunu\nyazdı:",
        "Στις Δευ 3 Φεβ 2025 στις 9:12 π.μ., ο/η Example Support\n<support@example.com> έγραψε:",
        "Den 3 feb. 2025 kl. 09:12 bedrev Example Support\n<support@example.com> något:",
    ],
)
def test_it_cuts_an_attribution_wrapped_over_two_lines(attribution):
    text = f"Thanks, solved.\n\n{attribution}\n> Please clear the cache.\n> Regards\n"
    assert extract_reply(text) == "Thanks, solved."


def test_it_keeps_a_colon_line_that_is_followed_by_answers():
    text = "My question at 10:30:\n> Does it work?\nYes, it does."
    assert extract_reply(text) == text


def test_it_finds_history_below_thousands_of_quoted_lines():
    quoted = "\n".join(f"> line {i}" for i in range(20_000))
    assert extract_reply(f"New text.\n{quoted}\nunquoted tail") == (
        f"New text.\n{quoted}\nunquoted tail"
    )
    assert extract_reply(f"New text.\n{quoted}\n") == "New text."
