"""The signed ticket token in our Message-IDs."""

from __future__ import annotations

from deskmail.outbound.tokens import new_message_id, ticket_from_references, ticket_from_token


def test_it_names_the_ticket_in_the_mailbox_domain() -> None:
    message_id = new_message_id(1234, "Support@Example.COM")

    assert message_id.startswith("dm.T1234.R")
    assert message_id.endswith("@example.com")
    assert ticket_from_token(message_id) == 1234
    assert ticket_from_token(f"<{message_id}>") == 1234
    assert ticket_from_token(message_id.upper()) == 1234


def test_it_makes_every_message_id_unique() -> None:
    assert new_message_id(7, "a@example.com") != new_message_id(7, "a@example.com")


def test_it_refuses_a_token_whose_signature_does_not_match() -> None:
    head, _, domain = new_message_id(1234, "support@example.com").rpartition("@")
    forged = head.replace("dm.T1234.", "dm.T1235.") + "@" + domain

    assert ticket_from_token(forged) is None


def test_it_ignores_message_ids_that_are_not_ours() -> None:
    assert ticket_from_token("CAF=abc123@mail.gmail.com") is None
    assert ticket_from_token("dm.T12.Rzz.0123456789abcdef@example.com") is None
    assert ticket_from_token("") is None


def test_it_takes_the_newest_token_in_a_references_chain() -> None:
    older, newer = new_message_id(5, "s@example.com"), new_message_id(9, "s@example.com")

    assert ticket_from_references(["x@y.example", older, newer, "z@y.example"]) == 9
    assert ticket_from_references(["x@y.example"]) is None


def test_it_signs_exactly_as_ids_written_before_were_signed() -> None:
    """Message-IDs already out in the world were signed with Django's salted_hmac."""
    from django.utils.crypto import salted_hmac

    message_id = new_message_id(42, "support@example.com")
    _, number, nonce, signature = message_id.partition("@")[0].split(".")

    expected = salted_hmac("deskmail.outbound.tokens", f"{number}.{nonce}", algorithm="sha256")
    assert signature == expected.hexdigest()[:16]
