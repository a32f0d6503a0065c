"""HL7 v2 messages from hospital systems: ``POST /hl7/v2``, one message in, one ACK out.

Capabilities add what they handle as :class:`MessageHandler` values — patients' ADT
(A04, A08, A40) live in ``yilian.patients.hl7`` — and ``routes.py`` passes them all to
:func:`build_router`. A handler reads the :class:`Message` it is given, calls its
capability's services, and returns :class:`Accepted`, or raises :class:`Hl7Error` (or a
service's own bilingual error) to be answered AE or AR.
"""

from yilian.hl7v2.handlers import Accepted, HandlerRegistry, Inbound, MessageHandler
from yilian.hl7v2.messages import (
    AckCode,
    ErrorCode,
    ErrorLocation,
    Field,
    Header,
    Hl7Error,
    Message,
    Segment,
)
from yilian.hl7v2.router import build_router

__all__ = [
    "Accepted",
    "AckCode",
    "ErrorCode",
    "ErrorLocation",
    "Field",
    "HandlerRegistry",
    "Header",
    "Hl7Error",
    "Inbound",
    "Message",
    "MessageHandler",
    "Segment",
    "build_router",
]
