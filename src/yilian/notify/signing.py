"""Webhook signatures: ``X-Yilian-Signature: t=<unix seconds>,v1=<hex>``.

``v1`` is HMAC-SHA256 under the subscription's secret of ``"<t>.<body>"`` (the raw body
bytes), as Stripe signs its webhooks: the timestamp is signed with the body, so a captured
request replayed later fails the receiver's tolerance check. Several ``v1`` values may be
given (while a secret is rotated); one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["SIGNATURE_HEADER", "InvalidSignature", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Yilian-Signature"
EVENT_HEADER = "X-Yilian-Event"
DELIVERY_HEADER = "X-Yilian-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(Exception):
    """A webhook request that does not carry a valid, fresh signature from the secret."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``X-Yilian-Signature`` value for the body, signed now (or at ``timestamp``)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={_digest(secret, moment, body)}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> int:
    """Check a received webhook's signature; the signed timestamp, or InvalidSignature.

    ``headers`` is looked up without regard to case; ``tolerance`` is how many seconds the
    signed time may lie from now either way (replay protection).
    """
    value = next(
        (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None
    )
    if not value:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in value.split(","):
        name, _, given = part.strip().partition("=")
        if name == "t" and given.isdigit():
            timestamp = int(given)
        elif name == "v1" and given:
            candidates.append(given)
    if timestamp is None or not candidates:
        raise InvalidSignature(f"malformed {SIGNATURE_HEADER} header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("signature timestamp outside the tolerance")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in candidates):
        raise InvalidSignature("signature does not match the body")
    return timestamp
