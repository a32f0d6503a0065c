"""Notifications: an in-app inbox, outbound webhooks and email, delivered from an outbox.

Other capabilities call :func:`yilian.notify.service.publish` inside their own transaction;
``yilian notify deliver`` (or the server's optional background thread) sends what the
outbox holds. Receivers check a webhook with :func:`verify_signature`.
"""

from yilian.notify.signing import InvalidSignature, sign, verify_signature

__all__ = ["InvalidSignature", "sign", "verify_signature"]
