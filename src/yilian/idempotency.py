"""Idempotent POSTs: a request retried with the same ``Idempotency-Key`` gets the first answer.

A county hospital's network drops answers: the clerk's "accept" reached the server and was
done, but the browser never heard so and sends it again. Without a key, the retry is a
second step (or a 409, the referral having moved on). With one, the server finds the answer
it gave the first time and sends it again, with ``Idempotent-Replayed: true``.

The answer is kept in the same transaction as the change it reports, so it exists exactly
when the change does. A key belongs to the user who sent it, for one method, path and body
(a key reused for something else is refused with a 422). Answers are kept for
:data:`KEPT_FOR`, long enough for any retry; a user's older ones go when they send a new
key. Twin requests in flight at once meet on the key's unique index: the second waits for
the first and is then told to retry (409), which gets it the first's answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from yilian.audit import service as audit
from yilian.auth.permissions import Principal
from yilian.db import Base, UTCDateTime, utcnow
from yilian.errors import Conflict, InvalidInput

KEY_MAX = 128
KEPT_FOR = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotentRequest(Base):
    """The answer a keyed request got, for its retries."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status_code: Mapped[int] = mapped_column(Integer, default=0)  # 0: being answered
    body: Mapped[str] = mapped_column(Text, default="")
    patient_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


@dataclass(frozen=True)
class Keyed:
    """The request's key (None: not keyed) and what it was sent for."""

    key: str | None
    fingerprint: str = ""


async def keyed_request(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(description="Any unique string (a UUID): a retry with the same key gets the "
                           "first answer instead of acting twice"),
    ] = None,
) -> Keyed:
    """The ``Idempotency-Key`` header, checked, and the fingerprint of what it was sent with."""
    if idempotency_key is None:
        return Keyed(None)
    key = idempotency_key.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise InvalidInput(
            "bad_idempotency_key",
            f"Idempotency-Key 须为 1–{KEY_MAX} 个可打印字符",
            f"Idempotency-Key must be 1 to {KEY_MAX} printable characters",
        )
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), await request.body()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return Keyed(key, digest.hexdigest())


IdempotencyKey = Annotated[Keyed, Depends(keyed_request)]
Shown = TypeVar("Shown", bound=BaseModel)


def answer(
    session: Session, principal: Principal, keyed: Keyed, work: Callable[[], Shown], *,
    status_code: int = 200, patient_id: int | None = None,
) -> Shown | JSONResponse:
    """``work()``'s answer; for a keyed request, the first answer to that key when there is one.

    Without a key this is just ``work()``. With one, a known key replays its answer (audited
    as a read: the answer carries patient data), and a new key's answer is kept with the
    change before it is sent.
    """
    if keyed.key is None:
        return work()
    found = session.scalars(select(IdempotentRequest).where(
        IdempotentRequest.user_id == principal.user_id, IdempotentRequest.key == keyed.key,
    )).first()
    if found is not None:
        return _replay(session, found, keyed)
    session.execute(delete(IdempotentRequest).where(  # this user's answers no retry needs now
        IdempotentRequest.user_id == principal.user_id,
        IdempotentRequest.created_at < utcnow() - KEPT_FOR))
    claim = IdempotentRequest(user_id=principal.user_id, key=keyed.key,
                              fingerprint=keyed.fingerprint, patient_id=patient_id)
    session.add(claim)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a twin with this key was answered meanwhile
        raise Conflict(
            "idempotency_in_flight", "同一请求刚刚处理完毕，请重试以取得结果",
            "The same request was just answered; retry to get its answer",
        ) from None
    shown = work().model_dump(mode="json")
    claim.status_code, claim.body = status_code, json.dumps(shown, ensure_ascii=False)
    session.flush()
    return JSONResponse(shown, status_code=status_code)


def _replay(session: Session, found: IdempotentRequest, keyed: Keyed) -> JSONResponse:
    if found.fingerprint != keyed.fingerprint:
        raise InvalidInput(
            "idempotency_key_reused",
            "该 Idempotency-Key 已用于另一个请求，请换一个新键",
            "This Idempotency-Key was used for another request; send a new key",
        )
    audit.record(session, action="request.replay", entity_type="idempotent_request",
                 entity_id=str(found.id), patient_id=found.patient_id)
    return JSONResponse(json.loads(found.body), status_code=found.status_code,
                        headers={REPLAYED_HEADER: "true"})
