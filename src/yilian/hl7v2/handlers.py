"""Which function answers which HL7 v2 message, and what every message goes through first.

A capability declares its handlers as :class:`MessageHandler` values (``patients/hl7.py``
for ADT; results will add ORU^R01 the same way) and ``routes.py`` hands them all to the
router. :func:`dispatch` reads the message, finds its handler and the sending institution
(MSH-4), checks that the signed-in interface account may act for that institution, runs
the handler and turns every failure into the AE or AR the sender is told. It never
commits: the router does, after rolling back whatever a refused message wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from yilian import logs
from yilian.auth.permissions import Action, Principal, is_allowed
from yilian.config import Settings
from yilian.errors import InvalidInput, NotFound, PermissionDenied, YilianError
from yilian.hl7v2.messages import (
    AckCode,
    ErrorCode,
    ErrorLocation,
    Header,
    Hl7Error,
    Message,
    decode,
    parse,
)
from yilian.registry import service as registry
from yilian.registry.models import Institution

__all__ = [
    "Accepted",
    "HandlerRegistry",
    "Inbound",
    "MessageHandler",
    "Receipt",
    "authorize_sender",
    "dispatch",
    "from_service_error",
    "sending_institution",
]

log = logs.get_logger(__name__)


@dataclass(frozen=True)
class Inbound:
    """A message on its way to its handler: who sent it, for which institution."""

    message: Message
    institution_id: int
    institution_code: str
    principal: Principal
    settings: Settings


@dataclass(frozen=True)
class Accepted:
    """What a handler did, for the audit trail: a word, the patient, ids (no patient data)."""

    result: str  # registered, updated, merged, …
    patient_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


Handle = Callable[[Session, Inbound], Accepted]


@dataclass(frozen=True)
class MessageHandler:
    """The function that handles one message type and trigger event, and what it needs."""

    message_type: str
    trigger: str
    handle: Handle
    # What the sender must be allowed to do for the sending institution.
    actions: tuple[Action, ...] = (Action.PATIENT_WRITE,)

    @property
    def event(self) -> str:
        """``ADT^A04``."""
        return f"{self.message_type}^{self.trigger}"


class HandlerRegistry:
    """Handlers by message type and trigger event; one handler per event."""

    def __init__(self, handlers: Iterable[MessageHandler] = ()) -> None:
        self._handlers: dict[tuple[str, str], MessageHandler] = {}
        for handler in handlers:
            self.add(handler)

    def add(self, handler: MessageHandler) -> None:
        """Answer the handler's event with it."""
        key = (handler.message_type.upper(), handler.trigger.upper())
        if key in self._handlers:
            raise ValueError(f"Two handlers for {handler.event}")
        self._handlers[key] = handler

    @property
    def events(self) -> list[str]:
        """Every event handled, such as ``ADT^A04``."""
        return sorted(handler.event for handler in self._handlers.values())

    def find(self, header: Header) -> MessageHandler:
        """The handler of the message's event; AR 200 or 201 when there is none."""
        found = self._handlers.get((header.message_type, header.trigger))
        if found is not None:
            return found
        supported = "、".join(self.events)
        location = ErrorLocation("MSH", 9)
        if not any(kind == header.message_type for kind, _ in self._handlers):
            raise Hl7Error(
                AckCode.REJECTED, ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
                f"不支持的消息类型 {header.message_type}（支持 {supported}）",
                f"Message type {header.message_type} is not supported "
                f"(supported: {', '.join(self.events)})",
                location=location, reason="unsupported_message_type", header=header,
            )
        raise Hl7Error(
            AckCode.REJECTED, ErrorCode.UNSUPPORTED_EVENT,
            f"不支持的触发事件 {header.event}（支持 {supported}）",
            f"Trigger event {header.event} is not supported "
            f"(supported: {', '.join(self.events)})",
            location=ErrorLocation("MSH", 9, component=2), reason="unsupported_event",
            header=header,
        )


def sending_institution(session: Session, header: Header) -> Institution:
    """The institution MSH-4 names by its code: AR when missing, AE 204 when unknown."""
    location = ErrorLocation("MSH", 4)
    if not header.facility:
        raise Hl7Error(
            AckCode.REJECTED, ErrorCode.REQUIRED_FIELD_MISSING,
            "MSH-4 发送机构不能为空", "MSH-4 Sending Facility is required",
            location=location, reason="required_field_missing", header=header,
        )
    institution = registry.get_institution_by_code(session, code=header.facility)
    if institution is None:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.UNKNOWN_KEY,
            f"发送机构编码不存在：{header.facility}",
            f"No institution has the code {header.facility} (MSH-4 Sending Facility)",
            location=location, reason="unknown_institution", header=header,
        )
    return institution


def authorize_sender(
    principal: Principal, handler: MessageHandler, institution: Institution, header: Header
) -> None:
    """AR unless the account may do the handler's actions for the sending institution.

    A hospital's interface account sends for its own institution and the campuses it
    runs; a platform administrator for any.
    """
    for action in handler.actions:
        if not is_allowed(principal, action, [institution.id]):
            raise Hl7Error(
                AckCode.REJECTED, ErrorCode.INTERNAL,
                f"账号 {principal.username} 无权代表 {institution.name}（{institution.code}）"
                f"发送 {handler.event} 消息（需要 {action.value} 权限）",
                f"Account {principal.username} may not send {handler.event} for "
                f"{institution.code} (needs {action.value} there)",
                location=ErrorLocation("MSH", 4), reason="forbidden", header=header,
            )


def from_service_error(
    error: YilianError, *, location: ErrorLocation | None = None, header: Header | None = None
) -> Hl7Error:
    """The AE or AR that tells a sender what a service refused, in the service's words."""
    ack, code = AckCode.ERROR, ErrorCode.INTERNAL  # a conflict with what is stored
    if isinstance(error, PermissionDenied):
        ack = AckCode.REJECTED
    elif isinstance(error, NotFound):
        code = ErrorCode.UNKNOWN_KEY
    elif isinstance(error, InvalidInput):
        code = ErrorCode.DATA_TYPE
    return Hl7Error(
        ack, code, error.zh, error.en, location=location, reason=error.code, header=header
    )


@dataclass(frozen=True)
class Receipt:
    """How a message was answered: what could be read of it, and the result or the error."""

    header: Header | None
    codec: str
    institution_id: int | None = None
    accepted: Accepted | None = None
    error: Hl7Error | None = None

    @property
    def ack(self) -> AckCode:
        """MSA-1 of the answer."""
        return AckCode.ACCEPTED if self.error is None else self.error.ack

    def audit_detail(self) -> dict[str, Any]:
        """What the audit trail keeps of the message: never the patient data it carried."""
        detail: dict[str, Any] = {
            "message_type": self.header.event if self.header else "",
            "control_id": self.header.control_id if self.header else "",
            "ack": self.ack.value,
        }
        if self.error is not None:
            detail |= {"error": self.error.code.value, "reason": self.error.reason}
        if self.accepted is not None:
            detail |= {"result": self.accepted.result, **self.accepted.detail}
        return detail


def dispatch(
    session: Session,
    settings: Settings,
    principal: Principal,
    handlers: HandlerRegistry,
    *,
    body: bytes,
    charset: str | None = None,
) -> Receipt:
    """Read, route, authorize and handle one message; every failure becomes the receipt's
    error. The caller rolls the session back when there is one."""
    header: Header | None = None
    codec = "utf-8"
    institution_id: int | None = None
    try:
        text, codec = decode(body, charset=charset)
        message = parse(text, codec=codec)
        header = message.header
        handler = handlers.find(header)
        institution = sending_institution(session, header)
        institution_id = institution.id
        authorize_sender(principal, handler, institution, header)
        inbound = Inbound(message, institution.id, institution.code, principal, settings)
        try:
            accepted = handler.handle(session, inbound)
        except YilianError as error:
            raise from_service_error(error, header=header) from error
    except Hl7Error as error:
        return Receipt(header or error.header, codec, institution_id, error=error)
    except Exception:
        log.exception(
            "hl7_handler_failed",
            message_type=header.event if header else "",
            control_id=header.control_id if header else "",
        )
        failure = Hl7Error(
            AckCode.ERROR, ErrorCode.INTERNAL,
            "系统内部错误，消息未处理，请稍后重发", "Internal error: not processed; resend later",
            reason="internal_error", header=header,
        )
        return Receipt(header, codec, institution_id, error=failure)
    return Receipt(header, codec, institution_id, accepted=accepted)
