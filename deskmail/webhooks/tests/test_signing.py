"""The signature: HMAC-SHA256 over the timestamp and the body, fresh timestamps only."""

from __future__ import annotations

import hashlib
import hmac

from deskmail.webhooks import signing


def test_it_signs_the_timestamp_a_dot_and_the_body():
    signature = signing.sign("whsec_key", 1700000000, b'{"event":"x"}')

    expected = hmac.new(b"whsec_key", b'1700000000.{"event":"x"}', hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"


def test_it_verifies_only_the_same_secret_body_and_a_fresh_timestamp():
    body = b'{"event":"message.received"}'
    signature = signing.sign("whsec_key", 1700000000, body)

    assert signing.verify("whsec_key", "1700000000", body, signature, now=1700000100)
    assert not signing.verify("whsec_other", "1700000000", body, signature, now=1700000100)
    assert not signing.verify("whsec_key", "1700000000", body + b" ", signature, now=1700000100)
    assert not signing.verify("whsec_key", "1700000001", body, signature, now=1700000100)
    assert not signing.verify("whsec_key", "1700000000", body, signature, now=1700000400)
    assert not signing.verify("whsec_key", "soon", body, signature, now=1700000100)
