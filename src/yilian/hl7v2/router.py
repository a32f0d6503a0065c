"""``POST /hl7/v2``: one HL7 v2 message from a hospital system, answered with its ACK.

Signing in is as for every API route (the bearer token of the institution's interface
account; 401 without one). An account whose role may send no message at all (a patient,
a commission analyst) is refused with HTTP 403 before the message is read. Everything
else is answered with an HL7 acknowledgment and
HTTP 200 — AA, or AE/AR with an ERR segment — because interface engines read the ACK, not
the HTTP status. A refused message changes nothing: its writes are rolled back, then its
receipt is audited in the request's own transaction, which still commits.

The Content-Type is not checked (``application/hl7-v2``, ``x-application/hl7-v2+er7``
and ``text/plain`` are what senders use); only its ``charset`` is read, after MSH-18.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.auth.permissions import is_allowed
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import PermissionDenied
from yilian.hl7v2.handlers import HandlerRegistry, MessageHandler, Receipt, dispatch
from yilian.hl7v2.messages import HL7_MEDIA_TYPE, AckCode, build_ack

__all__ = ["build_router"]

ACCEPTED_MEDIA_TYPES = (HL7_MEDIA_TYPE, "x-application/hl7-v2+er7", "text/plain")


async def message_body(request: Request) -> bytes:
    """The body as sent: its character set is only known once MSH-18 is read."""
    return await request.body()


MessageBody = Annotated[bytes, Depends(message_body)]


def _declared_charset(request: Request) -> str | None:
    for parameter in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "charset":
            return value.strip().strip('"')
    return None


def _outcome(receipt: Receipt) -> AuditOutcome:
    if receipt.error is None:
        return AuditOutcome.SUCCESS
    return AuditOutcome.DENIED if receipt.error.reason == "forbidden" else AuditOutcome.FAILED


_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One HL7 v2 message in ER7; segments end in CR, LF or CR LF; "
        "MLLP framing is allowed. MSH-4 names the sending institution by its code.",
        "content": {media: {"schema": {"type": "string"}} for media in ACCEPTED_MEDIA_TYPES},
    }
}


def build_router(handlers: Iterable[MessageHandler]) -> APIRouter:
    """The HL7 v2 endpoint, answering the given handlers' events."""
    handlers = tuple(handlers)
    registry = HandlerRegistry(handlers)
    router = APIRouter(prefix="/hl7", tags=["hl7"])
    actions = frozenset(action for handler in handlers for action in handler.actions)

    async def may_send(principal: CurrentPrincipal) -> None:  # pure: no thread hop
        """403 for a role that may do none of the handlers' actions (before reading)."""
        if not any(is_allowed(principal, action) for action in actions):
            raise PermissionDenied("该账号无权发送 HL7 消息",
                                   "This account may not send HL7 messages",
                                   action="hl7.receive")

    @router.post(
        "/v2",
        summary="Receive an HL7 v2 message (answered with an ACK)",
        description=(
            f"Events handled: {', '.join(registry.events)}. The answer is an HL7 ACK with "
            "HTTP 200: MSA-1 AA, or AE/AR with an ERR segment (ERR-3 from HL7 table 0357, "
            "ERR-5 our reason code, ERR-8 the message as 中文 / English)."
        ),
        response_class=Response,
        responses={200: {"content": {HL7_MEDIA_TYPE: {}}, "description": "The ACK"}},
        openapi_extra=_REQUEST_BODY,
        dependencies=[Depends(may_send)],
    )
    def receive_message(
        request: Request,
        body: MessageBody,
        session: DbSession,
        settings: AppSettings,
        principal: CurrentPrincipal,
    ) -> Response:
        """Handle one message and answer it: AA, or AE/AR after rolling its writes back."""
        receipt = dispatch(
            session, settings, principal, registry,
            body=body, charset=_declared_charset(request),
        )
        if receipt.ack is not AckCode.ACCEPTED:
            session.rollback()  # a refused message changes nothing
        audit.record(
            session,
            action="hl7.receive",
            outcome=_outcome(receipt),
            entity_type="hl7_message",
            entity_id=receipt.header.control_id[:64] if receipt.header else "",
            institution_id=receipt.institution_id,
            patient_id=receipt.accepted.patient_id if receipt.accepted else None,
            detail=receipt.audit_detail(),
        )
        ack = build_ack(receipt.header, error=receipt.error, codec=receipt.codec)
        return Response(
            ack.encode(receipt.codec),
            media_type=f"{HL7_MEDIA_TYPE}; charset={receipt.codec}",
        )

    return router
