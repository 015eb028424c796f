"""The signed-token codec for our Message-IDs, pure: the secret is given."""

from __future__ import annotations

from deskmail.mail.tokens import MessageIdTokens


def test_it_reads_back_the_ticket_it_wrote() -> None:
    tokens = MessageIdTokens("secret one")

    assert tokens.ticket_of(tokens.new_message_id(77, "help@example.org")) == 77


def test_it_refuses_an_id_signed_under_another_secret() -> None:
    theirs = MessageIdTokens("secret two").new_message_id(77, "help@example.org")

    assert MessageIdTokens("secret one").ticket_of(theirs) is None


def test_it_keeps_the_secret_out_of_its_repr() -> None:
    assert "hunter2" not in repr(MessageIdTokens("hunter2"))


def test_it_reads_back_the_task_it_wrote() -> None:
    tokens = MessageIdTokens("secret one")

    message_id = tokens.new_task_message_id(12, "Help@Example.org")

    assert message_id.startswith("dm.K12.R")
    assert message_id.endswith("@example.org")
    assert tokens.task_of(message_id) == 12
    assert tokens.task_of(f"<{message_id.upper()}>") == 12


def test_a_task_token_never_names_a_ticket_and_a_ticket_token_never_a_task() -> None:
    tokens = MessageIdTokens("secret one")
    task = tokens.new_task_message_id(12, "help@example.org")
    ticket = tokens.new_message_id(12, "help@example.org")

    assert tokens.ticket_of(task) is None
    assert tokens.task_of(ticket) is None
    # The same nonce and signature under the other letter is refused: K is signed too.
    assert tokens.task_of(ticket.replace("dm.T12.", "dm.K12.")) is None
    assert tokens.ticket_of(task.replace("dm.K12.", "dm.T12.")) is None


def test_it_refuses_a_forged_or_foreign_task_token() -> None:
    tokens = MessageIdTokens("secret one")
    head, _, domain = tokens.new_task_message_id(12, "help@example.org").rpartition("@")

    assert tokens.task_of(head.replace("dm.K12.", "dm.K13.") + "@" + domain) is None
    assert tokens.task_of(MessageIdTokens("secret two").new_task_message_id(12, "a@b.org")) is None
    assert tokens.task_of("dm.K12.Rzz.0123456789abcdef@example.org") is None
    assert tokens.task_of("") is None


def test_it_takes_the_newest_task_token_in_a_references_chain() -> None:
    tokens = MessageIdTokens("secret one")
    older = tokens.new_task_message_id(3, "s@example.com")
    newer = tokens.new_task_message_id(4, "s@example.com")
    ticket = tokens.new_message_id(9, "s@example.com")

    assert tokens.task_of_references(["x@y.example", older, newer, ticket]) == 4
    assert tokens.task_of_references([ticket, "x@y.example"]) is None
