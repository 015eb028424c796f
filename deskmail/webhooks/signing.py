"""The signature on every webhook delivery, and how a receiver checks it.

Headers of each POST:

    Deskmail-Delivery:  a UUID, the same on every retry of one delivery
    Deskmail-Event:     the event kind, e.g. message.received
    Deskmail-Timestamp: Unix seconds when this attempt was signed
    Deskmail-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

The receiver recomputes the HMAC over the timestamp header, a dot and the raw
body bytes, compares in constant time, and refuses a timestamp far from its
clock (five minutes by default), so a captured delivery cannot be replayed
later. `verify` does all three.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE = "Deskmail-Signature"
TIMESTAMP = "Deskmail-Timestamp"
DELIVERY = "Deskmail-Delivery"
EVENT = "Deskmail-Event"
SCHEME = "sha256="
TOLERANCE_S = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """True when the signature is ours for this timestamp and body, and the timestamp is fresh."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature.strip())
