"""Suggested answers: drawn from resolved tickets the person may see and canned answers,
keyed on the latest customer message, with feedback recorded."""

from __future__ import annotations

from typing import Any

import pytest

from deskmail.ingest.api import ingest
from deskmail.services import actions, canned, compose, suggestions
from deskmail.services.access import SYSTEM
from deskmail.services.errors import Invalid, NotFound
from deskmail.suggest import encoder
from deskmail.suggest.models import Pair
from deskmail.suggest.rank import rank
from deskmail.testing.builders import make_email
from deskmail.testing.personas import Team
from deskmail.tickets.models import Draft, Ticket

pytestmark = pytest.mark.django_db

JAM = "Open tray 2, pull out the crumpled sheet and close the tray firmly."


def asked(mailbox: Any, subject: str, body: str, **mail: Any) -> Ticket:
    result = ingest(mailbox, make_email(to=mailbox.address, subject=subject, body=body, **mail))
    assert result.ticket is not None, result.trace
    return Ticket.objects.get(pk=result.ticket.pk)


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> Any:
    """As on a machine without the sentence model's package: its loader fails."""
    monkeypatch.setattr(encoder, "PACKAGE", "deskmail_no_such_model_package")
    encoder.reset()
    yield
    encoder.reset()


@pytest.fixture
def solve(team: Team, django_capture_on_commit_callbacks: Any) -> Any:
    """A customer's question, answered and resolved by Ada; indexed as on a real commit."""

    def solved(mailbox: Any, subject: str, question: str, answer: str) -> Ticket:
        ticket = asked(mailbox, subject, question)
        with django_capture_on_commit_callbacks(execute=True):
            actions.reply(team.actor(team.ada), ticket, body_text=answer, status="resolved")
        return ticket

    return solved


def test_it_suggests_the_answer_that_solved_a_similar_question(team: Team, solve: Any) -> None:
    old = solve(team.north, "Printer jammed", "The printer has a paper jam on floor 2.", JAM)
    solve(team.north, "Invoice copy", "Could you send me a copy of my last invoice?", "Sent.")
    ticket = asked(team.north, "Paper stuck", "Paper is jammed in the printer again, help")

    shown = suggestions.for_ticket(team.actor(team.nora), ticket)

    assert shown[0].text == JAM
    assert (shown[0].source, shown[0].source_label) == ("ticket", f"ticket #{old.number}")
    assert shown[0].ticket_number == old.number


def test_it_never_suggests_from_a_mailbox_the_agent_does_not_see(team: Team, solve: Any) -> None:
    solve(team.south, "Printer jammed", "The printer has a paper jam.", "South's secret fix.")
    ticket = asked(team.north, "Paper stuck", "Paper is jammed in the printer")

    for_nora = [s.text for s in suggestions.for_ticket(team.actor(team.nora), ticket)]
    for_ada = [s.text for s in suggestions.for_ticket(team.actor(team.ada), ticket)]

    assert "South's secret fix." not in for_nora
    assert "South's secret fix." in for_ada  # it is indexed: Nora is kept from it


def test_a_newer_customer_message_replaces_older_suggestions(team: Team, solve: Any) -> None:
    solve(team.north, "Printer jammed", "The printer has a paper jam.", JAM)
    solve(team.north, "Password", "How do I reset my password?", "Use 'Forgot password'.")
    ticket = asked(team.north, "Printer", "Paper jam in the printer")
    nora = team.actor(team.nora)
    first = suggestions.for_ticket(nora, ticket)
    opening = ticket.messages.get()

    asked(
        team.north,
        f"Re: Printer [NO#{ticket.number}]",
        "Fixed, thanks. Now I forgot my password, how do I reset it?",
        in_reply_to=opening.message_id,
    )
    later = suggestions.for_ticket(nora, ticket)

    assert first[0].text == JAM
    assert later[0].text == "Use 'Forgot password'."
    assert {s.message_id for s in later} == {suggestions.latest_question(ticket).pk}
    assert not {s.id for s in first} & {s.id for s in later}
    with pytest.raises(Invalid):
        suggestions.insert(nora, ticket, first[0].id)


def test_canned_answers_are_suggested_filled_in_and_follow_their_edits(
    team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    ada = team.actor(team.ada)
    with django_capture_on_commit_callbacks(execute=True):
        answer = canned.create(
            ada, name="VPN access", body="Hi {{ contact.name }}, VPN is not offered.", mailbox=None
        )
        canned.update(ada, answer.pk, body="Hi {{ contact.name }}, install the VPN client.")
    ticket = asked(team.north, "VPN", "How do I get VPN access?", sender="Ann <ann@acme.example>")

    shown = suggestions.for_ticket(team.actor(team.nora), ticket)

    assert shown[0].text == "Hi Ann, install the VPN client."
    assert shown[0].source_label == "canned answer VPN access"


def test_feedback_insert_as_draft_and_the_report(team: Team, solve: Any) -> None:
    solve(team.north, "Printer jammed", "The printer has a paper jam.", JAM)
    ticket = asked(team.north, "Printer", "Paper jam in the printer")
    nora = team.actor(team.nora)
    top = suggestions.for_ticket(nora, ticket)[0]

    suggestions.feedback(nora, ticket, top.id, vote="up")
    suggestions.insert_as_draft(nora, ticket, top.id)

    draft = Draft.objects.get(ticket=ticket, user=team.nora, kind=Draft.Kind.REPLY)
    assert draft.body == JAM
    again = suggestions.for_ticket(nora, ticket)[0]
    assert (again.vote, again.inserted) == ("up", True)
    report = suggestions.report(SYSTEM)
    assert (report.questions, report.questions_inserted, report.top1_inserted, report.up) == (
        1,
        1,
        1,
        1,
    )
    with pytest.raises(NotFound):
        suggestions.feedback(team.actor(team.sam), ticket, top.id, vote="down")


def test_a_mailbox_can_switch_them_off(team: Team, solve: Any) -> None:
    solve(team.north, "Printer jammed", "The printer has a paper jam.", JAM)
    ticket = asked(team.north, "Printer", "Paper jam in the printer")
    team.north.config["console"]["suggestions"] = False
    team.north.save()
    ticket.refresh_from_db()

    assert suggestions.for_ticket(team.actor(team.nora), ticket) == []


def test_reindex_rebuilds_the_index_from_scratch(team: Team, solve: Any) -> None:
    solved = solve(team.north, "Printer jammed", "The printer has a paper jam.", JAM)
    Pair.objects.all().delete()

    steps = list(suggestions.reindex(SYSTEM))

    assert steps[-1] == (1, 1)
    assert Pair.objects.get().ticket_id == solved.pk


def test_very_common_words_are_not_scored_in_a_large_index() -> None:
    from deskmail.suggest.rank import _telling

    df = {"today": 900, "customer": 700, "router": 12, "lights": 30, "power": 150}

    assert set(_telling(df, 1000)) == {"router", "lights", "power", "customer", "today"}
    assert set(_telling(df | {f"w{n}": n + 1 for n in range(5)}, 1000)) == {
        "router",
        "lights",
        "power",
        *(f"w{n}" for n in range(5)),
    }
    assert _telling(df, 100) == df  # small: everything is scored


def test_a_reply_taken_back_leaves_the_index(
    team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    ticket = asked(team.north, "Printer jammed", "The printer has a paper jam.")
    ada = team.actor(team.ada)
    with django_capture_on_commit_callbacks(execute=True):
        item = actions.reply(ada, ticket, body_text=JAM, status="resolved")
    assert Pair.objects.filter(ticket=ticket).exists()

    with django_capture_on_commit_callbacks(execute=True):
        compose.undo_send(ada, item.pk)

    assert not Pair.objects.filter(ticket=ticket).exists()


def test_a_paraphrase_without_a_shared_word_is_found_by_meaning(team: Team, solve: Any) -> None:
    solve(team.north, "Printer jammed", "The printer has a paper jam on floor 2.", JAM)
    solve(team.north, "Invoice copy", "Could you send me a copy of my last invoice?", "Sent.")
    ticket = asked(team.north, "Copier", "Sheets keep getting stuck inside the copier")
    pairs = suggestions.visible_pairs(team.actor(team.nora), ticket)

    assert rank("Sheets keep getting stuck inside the copier", pairs) == []  # no word shared
    shown = suggestions.for_ticket(team.actor(team.nora), ticket)
    assert [s.text for s in shown] == [JAM]  # the unrelated invoice answer stays out
    assert Pair.objects.filter(vector__isnull=True).count() == 0


def test_without_the_sentence_model_it_ranks_by_words_alone(
    team: Team, no_model: None, solve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    solve(team.north, "Printer jammed", "The printer has a paper jam on floor 2.", JAM)
    solve(team.north, "Invoice copy", "Could you send me a copy of my last invoice?", "Sent.")
    by_words = asked(team.north, "Paper stuck", "Paper is jammed in the printer again, help")
    by_meaning = asked(team.north, "Copier", "Sheets keep getting stuck inside the copier")
    nora = team.actor(team.nora)

    assert [s.text for s in suggestions.for_ticket(nora, by_words)] == [JAM]
    assert suggestions.for_ticket(nora, by_meaning) == []
    # Indexed without vectors; a reindex once the model is installed adds them.
    assert Pair.objects.filter(vector__isnull=False).count() == 0
    monkeypatch.undo()
    encoder.reset()
    list(suggestions.reindex(SYSTEM))
    assert Pair.objects.filter(vector__isnull=True).count() == 0
