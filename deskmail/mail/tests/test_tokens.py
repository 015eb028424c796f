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
