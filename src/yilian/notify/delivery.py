"""The outbox worker: claims due messages, POSTs webhooks, sends email, records the outcome.

Claiming is one UPDATE … RETURNING that stamps a lease (``claimed_until``) and a fresh
``claim_token`` on up to ``batch`` due rows; on PostgreSQL the rows are picked with
``FOR UPDATE SKIP LOCKED`` so parallel workers take different rows without waiting, on
SQLite the single statement runs under the database's write lock. A worker that dies
holding claims simply lets the lease run out; the next worker takes the rows again and
sends them with the same ``X-Yilian-Delivery`` id, which receivers dedupe on. Outcomes are
written only while the claim token still matches, so a message is marked delivered once.

Attempts are counted when a message is claimed, so a message that crashes its worker
still runs out of attempts and ends up dead instead of looping forever.
"""

from __future__ import annotations

import random
import smtplib
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from yilian import __version__, logs
from yilian.config import Settings
from yilian.db import transaction, utcnow
from yilian.notify import subscriptions
from yilian.notify.models import (
    AttemptOutcome,
    Channel,
    OutboxAttempt,
    OutboxMessage,
    OutboxStatus,
    WebhookSubscription,
)
from yilian.notify.service import EmailContent
from yilian.notify.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign

log = logs.get_logger(__name__)

ERROR_MAX = 500
RESPONSE_READ_MAX = 4096


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after the ``attempt``-th failed try: doubling from ``base``, capped
    at ``cap``, with "equal jitter" (half fixed, half random by ``jitter`` in [0, 1)) so
    that receivers coming back from an outage are not hit by every retry at once."""
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return float(ceiling / 2 + ceiling / 2 * jitter)


def gives_up(attempts: int, max_attempts: int) -> bool:
    """Whether a failed message has had its last try."""
    return attempts >= max_attempts


@dataclass(frozen=True)
class Claimed:
    """An outbox message this worker holds until its lease runs out."""

    id: int
    delivery_id: str
    channel: Channel
    subscription_id: int | None
    recipient: str
    kind: str
    body: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What sending one message came to."""

    delivered: bool
    status_code: int | None = None
    error: str = ""
    permanent: bool = False  # no use retrying (the subscription was switched off)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answered by a redirect has failed; the body is never re-sent elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def post_webhook(
    *, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> Outcome:
    """POST the body; a 2xx answer is delivered, anything else (or no answer) failed."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - http(s) checked on subscribe
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(RESPONSE_READ_MAX)
            code = int(response.status)
    except urllib.error.HTTPError as error:
        return Outcome(False, error.code, f"HTTP {error.code} {error.reason}"[:ERROR_MAX])
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Outcome(False, None, f"{type(error).__name__}: {reason}"[:ERROR_MAX])
    if 200 <= code < 300:
        return Outcome(True, code)
    return Outcome(False, code, f"HTTP {code}")


def send_email(settings: Settings, message: Claimed) -> Outcome:
    """Hand one email to the configured SMTP server."""
    content = EmailContent.from_json(message.body)
    email = EmailMessage()
    email["From"] = settings.smtp_from
    email["To"] = content.to
    email["Subject"] = content.subject
    email["Message-ID"] = f"<{message.delivery_id}@yilian>"
    email[DELIVERY_HEADER] = message.delivery_id
    email[EVENT_HEADER] = message.kind
    email.set_content(content.text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                          timeout=settings.notify_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                password = settings.smtp_password
                smtp.login(settings.smtp_username,
                           password.get_secret_value() if password else "")
            smtp.send_message(email)
    except (smtplib.SMTPException, OSError) as error:
        return Outcome(False, None, f"{type(error).__name__}: {error}"[:ERROR_MAX])
    return Outcome(True)


class Worker:
    """Sends what the outbox holds; one per process or thread, many may run at once."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        batch: int | None = None,
        concurrency: int | None = None,
        name: str | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.batch = batch or settings.notify_batch_size
        self.concurrency = concurrency or settings.notify_concurrency
        self.name = (name or f"{socket.gethostname()}:{id(self):x}")[:64]
        self.jitter = jitter
        self.stop_event = threading.Event()

    # ------------------------------------------------------------ claiming

    def claim(self, *, now: datetime | None = None) -> tuple[str, list[Claimed]]:
        """Take up to ``batch`` due messages under a new lease; the claim token and them."""
        moment = now or utcnow()
        token = uuid.uuid4().hex
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= moment,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < moment),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has no row locks
        )
        statement = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(
                claimed_until=moment + timedelta(seconds=self.settings.notify_lease_seconds),
                claim_token=token,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(
                OutboxMessage.id, OutboxMessage.delivery_id, OutboxMessage.channel,
                OutboxMessage.subscription_id, OutboxMessage.recipient, OutboxMessage.kind,
                OutboxMessage.body, OutboxMessage.attempts,
            )
        )
        with transaction(self.factory) as session:
            rows = session.execute(statement).all()
        claimed = sorted(
            (Claimed(id=r[0], delivery_id=r[1], channel=r[2], subscription_id=r[3],
                     recipient=r[4], kind=r[5], body=r[6], attempts=r[7]) for r in rows),
            key=lambda c: c.id,
        )
        return token, claimed

    def release(self, *, token: str, message_ids: list[int]) -> None:
        """Give back claims not worked on (a graceful stop), uncounted."""
        if not message_ids:
            return
        with transaction(self.factory) as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(message_ids), OutboxMessage.claim_token == token,
                       OutboxMessage.status == OutboxStatus.PENDING)
                .values(claimed_until=None, claim_token="",
                        attempts=OutboxMessage.attempts - 1)
            )

    # ------------------------------------------------------------ sending

    def _secrets(self, claimed: list[Claimed]) -> dict[int, WebhookSubscription]:
        ids = {c.subscription_id for c in claimed if c.subscription_id is not None}
        if not ids:
            return {}
        with self.factory() as session:
            found = session.scalars(
                select(WebhookSubscription).where(WebhookSubscription.id.in_(ids))
            ).all()
            session.expunge_all()
        return {s.id: s for s in found}

    def send(self, message: Claimed, subscription: WebhookSubscription | None) -> Outcome:
        """Send one claimed message through its channel."""
        if message.channel is Channel.EMAIL:
            if not self.settings.smtp_host:
                return Outcome(False, None, "SMTP is not configured")
            return send_email(self.settings, message)
        if subscription is None or not subscription.is_active:
            return Outcome(False, None, "the subscription is switched off", permanent=True)
        body = message.body.encode("utf-8")
        secret = subscriptions.reveal_secret(self.settings, subscription)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"Yilian-Webhook/{__version__}",
            EVENT_HEADER: message.kind,
            DELIVERY_HEADER: message.delivery_id,
            SIGNATURE_HEADER: sign(secret, body),
        }
        return post_webhook(url=message.recipient, body=body, headers=headers,
                            timeout=self.settings.notify_timeout_seconds)

    def record(self, *, token: str, message: Claimed, outcome: Outcome, started: float) -> bool:
        """Store the outcome if the claim is still ours; whether it was."""
        now = utcnow()
        values: dict[str, Any] = {"claimed_until": None, "claim_token": "",
                                  "last_status_code": outcome.status_code}
        if outcome.delivered:
            result = AttemptOutcome.DELIVERED
            values.update(status=OutboxStatus.DELIVERED, delivered_at=now, last_error="")
        elif outcome.permanent or gives_up(message.attempts, self.settings.notify_max_attempts):
            result = AttemptOutcome.GAVE_UP
            values.update(status=OutboxStatus.DEAD, last_error=outcome.error)
        else:
            result = AttemptOutcome.FAILED
            delay = backoff_delay(message.attempts, base=self.settings.notify_backoff_base_seconds,
                                  cap=self.settings.notify_backoff_max_seconds,
                                  jitter=self.jitter())
            values.update(next_attempt_at=now + timedelta(seconds=delay),
                          last_error=outcome.error)
        with transaction(self.factory) as session:
            changed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id, OutboxMessage.claim_token == token,
                       OutboxMessage.status == OutboxStatus.PENDING)
                .values(**values)
            )
            if not getattr(changed, "rowcount", 0):
                log.warning("outbox_claim_lost", message_id=message.id, worker=self.name)
                return False
            session.execute(insert(OutboxAttempt).values(
                message_id=message.id, attempt=message.attempts, outcome=result,
                status_code=outcome.status_code, error=outcome.error,
                duration_ms=int((time.monotonic() - started) * 1000), worker=self.name,
                attempted_at=now,
            ))
        return True

    def run_batch(self) -> int:
        """Claim one batch and send it, ``concurrency`` messages at a time; how many were
        claimed. Each outcome is stored as soon as it is known."""
        token, claimed = self.claim()
        if not claimed:
            return 0
        known = self._secrets(claimed)

        def work(message: Claimed) -> bool:
            if self.stop_event.is_set():
                return False
            started = time.monotonic()
            outcome = self.send(message, known.get(message.subscription_id or 0))
            self.record(token=token, message=message, outcome=outcome, started=started)
            log.info("outbox_sent", message_id=message.id, delivered=outcome.delivered,
                     status=outcome.status_code, error=outcome.error, worker=self.name)
            return True

        if self.concurrency == 1 or len(claimed) == 1:
            worked = [work(message) for message in claimed]
        else:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name) as pool:
                worked = list(pool.map(work, claimed))
        self.release(token=token, message_ids=[
            message.id for message, done in zip(claimed, worked, strict=True) if not done])
        return len(claimed)

    def run_until_idle(self) -> int:
        """Work through every message due now, then return how many were claimed."""
        total = 0
        while not self.stop_event.is_set():
            claimed = self.run_batch()
            total += claimed
            if claimed == 0:
                break
        return total

    def run_forever(self) -> None:
        """Keep sending, polling when idle, until :meth:`stop`."""
        while not self.stop_event.is_set():
            try:
                idle = self.run_batch() == 0
            except Exception:  # a database hiccup must not end the worker
                log.exception("outbox_worker_error", worker=self.name)
                idle = True
            if idle:
                self.stop_event.wait(self.settings.notify_poll_seconds)

    def stop(self) -> None:
        """Ask the worker to stop after the message it is sending."""
        self.stop_event.set()


class BackgroundWorker:
    """A worker on a daemon thread, for ``yilian serve`` with notify_worker_in_server."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run_forever, name="yilian-notify",
                                       daemon=True)

    def start(self) -> BackgroundWorker:
        """Start the thread."""
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker and wait for its thread (at most ``timeout`` seconds)."""
        self.worker.stop()
        self.thread.join(timeout)
