"""HL7 v2 messages in ER7 ("pipe and hat") encoding: read one, answer it with an ACK.

python-hl7 splits the text; this module turns its irregular tree into plain typed values
(:class:`Message` → :class:`Segment` → :class:`Field`, numbered from 1 as the standard
numbers them), picks the character set and writes original-mode acknowledgments
(HL7 v2.5 §2.9.2). No database, no HTTP.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hl7

from yilian.db import utcnow

__all__ = [
    "HL7_MEDIA_TYPE",
    "NULL",
    "SUPPORTED_VERSIONS",
    "AckCode",
    "ErrorCode",
    "ErrorLocation",
    "Field",
    "Header",
    "Hl7Error",
    "Message",
    "Segment",
    "build_ack",
    "charset_label",
    "decode",
    "escape",
    "parse",
]

HL7_MEDIA_TYPE = "application/hl7-v2"
NULL = '""'  # the explicit null: "delete what you hold" (HL7 v2.5 §2.5.3)
# Versions whose MSH, PID, MRG and IN1 fields mean the same for what we read from them.
SUPPORTED_VERSIONS = frozenset(
    {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8"}
)
DEFAULT_VERSION = "2.5"
RECEIVER = "YILIAN"  # our application and facility, when the sender named none
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_LINE_END = re.compile(r"\r\n|\n")


class AckCode(enum.StrEnum):
    """MSA-1 acknowledgment code (HL7 table 0008)."""

    ACCEPTED = "AA"  # 已接收
    ERROR = "AE"  # 应用错误：内容有误，未处理
    REJECTED = "AR"  # 拒收：无法解析、类型或版本不支持、无权发送


class ErrorCode(enum.StrEnum):
    """ERR-3 HL7 error code (HL7 table 0357)."""

    SEGMENT_SEQUENCE = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE = "102"
    TABLE_VALUE_NOT_FOUND = "103"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT = "201"
    UNSUPPORTED_PROCESSING_ID = "202"
    UNSUPPORTED_VERSION = "203"
    UNKNOWN_KEY = "204"
    DUPLICATE_KEY = "205"
    RECORD_LOCKED = "206"
    INTERNAL = "207"

    @property
    def text(self) -> str:
        """The table's own wording, sent as ERR-3.2."""
        return _ERROR_TEXT[self]


_ERROR_TEXT: dict[ErrorCode, str] = {
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.RECORD_LOCKED: "Application record locked",
    ErrorCode.INTERNAL: "Application internal error",
}


@dataclass(frozen=True)
class ErrorLocation:
    """ERR-2 (ERL): which segment occurrence, field, repetition and component is wrong."""

    segment: str
    field: int | None = None
    sequence: int = 1
    repetition: int | None = None
    component: int | None = None

    def parts(self) -> list[str]:
        """The ERL components, trailing empty ones left out."""
        parts = [self.segment, str(self.sequence)] + [
            "" if part is None else str(part)
            for part in (self.field, self.repetition, self.component)
        ]
        while parts and not parts[-1]:
            parts.pop()
        return parts


class Hl7Error(Exception):
    """Why a message is answered AE or AR, in Chinese and English, and where it went wrong.

    ``reason`` is our own stable code (sent as ERR-5), such as ``resident_id_bad_check_digit``
    or ``forbidden``; ``header`` is what could be read of the message, for the ACK.
    """

    def __init__(
        self,
        ack: AckCode,
        code: ErrorCode,
        zh: str,
        en: str,
        *,
        location: ErrorLocation | None = None,
        reason: str = "",
        header: Header | None = None,
    ) -> None:
        super().__init__(f"{zh} / {en}")
        self.ack = ack
        self.code = code
        self.zh = zh
        self.en = en
        self.location = location
        self.reason = reason
        self.header = header

    @property
    def text(self) -> str:
        """The user message, ``中文 / English`` (ERR-8)."""
        return f"{self.zh} / {self.en}"


Component = tuple[str, ...]  # its subcomponents
Repetition = tuple[Component, ...]


@dataclass(frozen=True)
class Field:
    """One field: repetitions of components of subcomponents, unescaped."""

    repetitions: tuple[Repetition, ...] = ()

    @property
    def is_null(self) -> bool:
        """Sent as the explicit null ``""``: the receiver must clear what it holds."""
        return self.repetitions == (((NULL,),),)

    @property
    def is_empty(self) -> bool:
        """Not sent, or sent blank: the receiver keeps what it holds."""
        return not any(sub.strip() for rep in self.repetitions for comp in rep for sub in comp)

    def value(self, component: int = 1, *, subcomponent: int = 1, repetition: int = 1) -> str:
        """One value by its 1-based position, stripped; "" when not there."""
        try:
            return self.repetitions[repetition - 1][component - 1][subcomponent - 1].strip()
        except IndexError:
            return ""

    def component(self, number: int) -> Field:
        """One component of the first repetition, as a field (to test it for null)."""
        if not self.repetitions or number > len(self.repetitions[0]):
            return Field()
        return Field(((self.repetitions[0][number - 1],),))

    def each(self) -> list[Field]:
        """Each repetition as a field of its own (PID-3, PID-5 … repeat)."""
        return [Field((rep,)) for rep in self.repetitions]

    def text(self) -> str:
        """Every value of the field run together (to look for characters in it)."""
        return "".join(sub for rep in self.repetitions for comp in rep for sub in comp)

    def er7(self) -> str:
        """The field written with the standard separators, escaped."""
        return "~".join(
            "^".join("&".join(escape(sub) for sub in comp) for comp in rep)
            for rep in self.repetitions
        )


@dataclass(frozen=True)
class Segment:
    """One segment. For MSH, field 1 is the field separator, as the standard counts."""

    name: str
    fields: tuple[Field, ...]

    def field(self, number: int) -> Field:
        """Field ``number`` (1-based); an empty field when the segment stops before it."""
        return self.fields[number - 1] if 0 < number <= len(self.fields) else Field()

    def value(self, number: int, component: int = 1, *, subcomponent: int = 1) -> str:
        """A value of the field's first repetition."""
        return self.field(number).value(component, subcomponent=subcomponent)


@dataclass(frozen=True)
class Header:
    """What MSH says: who sent the message, what it is, in which version."""

    msh: Segment

    @property
    def facility(self) -> str:
        """MSH-4 Sending Facility: its namespace id, our institution code."""
        return self.msh.value(4)

    @property
    def message_type(self) -> str:
        """MSH-9.1, such as ``ADT``."""
        return self.msh.value(9).upper()

    @property
    def trigger(self) -> str:
        """MSH-9.2, the trigger event, such as ``A04``."""
        return self.msh.value(9, 2).upper()

    @property
    def event(self) -> str:
        """``ADT^A04``: type and trigger as MSH-9 writes them."""
        return f"{self.message_type}^{self.trigger}" if self.trigger else self.message_type

    @property
    def control_id(self) -> str:
        """MSH-10, echoed in MSA-2."""
        return self.msh.value(10)

    @property
    def version(self) -> str:
        """MSH-12.1, such as ``2.4``."""
        return self.msh.value(12)


@dataclass(frozen=True)
class Message:
    """One parsed message: its header and every segment in order (MSH first)."""

    header: Header
    segments: tuple[Segment, ...]

    def segment(self, name: str) -> Segment | None:
        """The first segment with this name, if any."""
        return next((segment for segment in self.segments if segment.name == name), None)

    def all(self, name: str) -> list[Segment]:
        """Every segment with this name, in order."""
        return [segment for segment in self.segments if segment.name == name]


# ---------------------------------------------------------------- reading


def _codec(label: str | None) -> str | None:
    """The Python codec for an MSH-18 (table 0211) or HTTP charset label we know."""
    key = re.sub(r"[\s_-]", "", label or "").upper()
    if key.startswith("GB"):
        return "gb18030"  # GB 18030 reads GBK and GB 2312 too
    if key in {"UNICODEUTF8", "UTF8", "ASCII", "USASCII"}:
        return "utf-8"
    return None


def _msh18(raw: bytes) -> str:
    """MSH-18 Character Set read from the bytes, before they can be decoded."""
    first = re.split(rb"[\r\n]", raw, maxsplit=1)[0]
    if len(first) < 4 or not first.startswith(b"MSH"):
        return ""
    fields = first.split(first[3:4])
    return fields[17].decode("ascii", "replace") if len(fields) > 17 else ""


def decode(body: bytes, *, charset: str | None = None) -> tuple[str, str]:
    """The message text and the codec it was read with.

    MLLP framing (``\\x0b`` … ``\\x1c\\r``) is dropped. MSH-18 decides the character set,
    then the HTTP charset; undeclared text is read as UTF-8, else as GB 18030 (what
    hospital systems in China send when they say nothing).
    """
    raw = body.strip()
    raw = raw.removeprefix(b"\x0b").removesuffix(b"\x1c").strip()
    declared = _codec(_msh18(raw)) or _codec(charset)
    for codec in (declared,) if declared else ("utf-8", "gb18030"):
        try:
            return raw.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise Hl7Error(
        AckCode.REJECTED,
        ErrorCode.DATA_TYPE,
        f"消息无法按字符集 {declared or 'UTF-8 / GB 18030'} 解码",
        f"The message cannot be decoded as {declared or 'UTF-8 or GB 18030'}",
        reason="undecodable",
    )


def _unescaper(esc: str, separators: str, codec: str) -> Callable[[str], str]:
    """Undo escape sequences (HL7 v2.5 §2.7): delimiters and hex; formatting is dropped."""
    named = {
        "F": separators[1], "R": separators[2], "S": separators[3], "T": separators[4],
        "E": esc,
    }
    pattern = re.compile(f"{re.escape(esc)}([^{re.escape(esc)}]*){re.escape(esc)}")

    def replace(match: re.Match[str]) -> str:
        sequence = match.group(1)
        if sequence in named:
            return named[sequence]
        if sequence[:1] == "X" and re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", sequence[1:]):
            return bytes.fromhex(sequence[1:]).decode(codec, "replace")
        if sequence in (".br", ".sp"):
            return " "
        return ""  # highlighting, character set switches: not text we store

    def unescape(text: str) -> str:
        return pattern.sub(replace, text) if esc in text else text

    return unescape


def _children(node: Any) -> list[Any]:
    # python-hl7 leaves a part that holds no deeper separator as a plain string.
    return [node] if isinstance(node, str) else list(node)


def _field(node: Any, unescape: Callable[[str], str]) -> Field:
    return Field(
        tuple(
            tuple(
                tuple(unescape(str(sub)) for sub in _children(component))
                for component in _children(repetition)
            )
            for repetition in _children(node)
        )
    )


def _segment(node: Any, unescape: Callable[[str], str]) -> Segment:
    name = str(node[0])
    if name == "MSH":  # MSH-1 and MSH-2 are the separators themselves, never escaped
        raw = tuple(Field((((str(node[i]),),),)) for i in (1, 2))
        return Segment(name, raw + tuple(_field(field, unescape) for field in node[3:]))
    return Segment(name, tuple(_field(field, unescape) for field in node[1:]))


def _rejected(code: ErrorCode, zh: str, en: str, **kwargs: Any) -> Hl7Error:
    return Hl7Error(AckCode.REJECTED, code, zh, en, **kwargs)


def parse(text: str, *, codec: str = "utf-8") -> Message:
    """One ER7 message, segments separated by CR, LF or CR LF; AR when it is not one."""
    text = _LINE_END.sub("\r", text).strip()
    if not (text.startswith("MSH") and len(text) > 8 and not text[3].isalnum()):
        raise _rejected(
            ErrorCode.SEGMENT_SEQUENCE, "消息必须以 MSH 段开头", "A message must begin with MSH",
            location=ErrorLocation("MSH"), reason="no_msh",
        )
    lines = [line for line in text.split("\r") if line.strip()]
    if sum(line.startswith("MSH" + text[3]) for line in lines) > 1:
        raise _rejected(
            ErrorCode.SEGMENT_SEQUENCE, "每次请求只能发送一条消息", "Send one message per request",
            location=ErrorLocation("MSH", sequence=2), reason="batch",
        )
    try:
        parsed = hl7.parse("\r".join(lines))
        unescape = _unescaper(parsed.esc, parsed.separators, codec)
        segments = tuple(_segment(node, unescape) for node in parsed)
    except Exception as exc:  # python-hl7 raises several kinds on text it cannot split
        raise _rejected(
            ErrorCode.SEGMENT_SEQUENCE, "消息无法解析", "The message cannot be parsed",
            reason="unparseable",
        ) from exc
    header = Header(segments[0])
    for sequence, segment in enumerate(segments, start=1):
        if not _SEGMENT_NAME.fullmatch(segment.name):
            raise _rejected(
                ErrorCode.SEGMENT_SEQUENCE,
                f"第 {sequence} 行不是 HL7 段",
                f"Line {sequence} is not an HL7 segment",
                reason="unparseable", header=header,
            )
    _check_header(header)
    return Message(header, segments)


def _check_header(header: Header) -> None:
    """MSH-9, MSH-10 and MSH-12 are what an answer needs; the version must be one we read."""
    for number, name in ((9, "Message Type"), (10, "Message Control ID"), (12, "Version ID")):
        if not header.msh.value(number):
            raise _rejected(
                ErrorCode.REQUIRED_FIELD_MISSING,
                f"MSH-{number} {name} 不能为空",
                f"MSH-{number} {name} is required",
                location=ErrorLocation("MSH", number), reason="required_field_missing",
                header=header,
            )
    if header.version not in SUPPORTED_VERSIONS:
        supported = ", ".join(sorted(SUPPORTED_VERSIONS))
        raise _rejected(
            ErrorCode.UNSUPPORTED_VERSION,
            f"不支持的 HL7 版本 {header.version}（支持 {supported}）",
            f"HL7 version {header.version} is not supported (supported: {supported})",
            location=ErrorLocation("MSH", 12), reason="unsupported_version", header=header,
        )


# ---------------------------------------------------------------- answering


def escape(text: str) -> str:
    """Text made safe for a field written with the standard separators ``|^~\\&``."""
    for character, sequence in (
        ("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"),
    ):
        text = text.replace(character, sequence)
    return _LINE_END.sub(" ", text).replace("\r", " ")


def charset_label(codec: str) -> str:
    """MSH-18 for a codec (table 0211)."""
    return "GB 18030-2000" if codec == "gb18030" else "UNICODE UTF-8"


def _before_2_5(version: str) -> bool:
    numbers = version.split(".")
    if not all(number.isdigit() for number in numbers):
        return False
    return tuple(int(number) for number in numbers) < (2, 5)


def new_control_id() -> str:
    """A fresh MSH-10 for our answer: at most 20 characters, as v2.3 and v2.4 allow."""
    return f"YL{utcnow():%y%m%d%H%M%S}{secrets.token_hex(3)}"


def build_ack(
    header: Header | None,
    *,
    error: Hl7Error | None = None,
    codec: str = "utf-8",
    control_id: str | None = None,
) -> str:
    """The acknowledgment of a message: AA, or AE/AR with an ERR segment saying why.

    Sender and receiver are swapped; MSH-9 is ``ACK^<trigger>^ACK``; MSH-11 and MSH-12
    are echoed; MSA-2 is the original control id. For senders before v2.5, which know
    only ERR-1 and MSA-3, the error is written there too.
    """
    msh = header.msh if header is not None else Segment("MSH", ())
    trigger = header.trigger if header is not None else ""
    version = (header.version if header is not None else "") or DEFAULT_VERSION
    fields = [
        msh.field(5).er7() or RECEIVER,  # MSH-3 Sending Application
        msh.field(6).er7() or RECEIVER,  # MSH-4 Sending Facility
        msh.field(3).er7(),  # MSH-5 Receiving Application
        msh.field(4).er7(),  # MSH-6 Receiving Facility
        f"{utcnow():%Y%m%d%H%M%S}+0000",  # MSH-7
        "",  # MSH-8 Security
        f"ACK^{escape(trigger)}^ACK" if trigger else "ACK",  # MSH-9
        escape(control_id or new_control_id()),  # MSH-10
        msh.field(11).er7() or "P",  # MSH-11 Processing ID
        escape(version),  # MSH-12
        "", "", "", "", "",  # MSH-13 … MSH-17
        charset_label(codec),  # MSH-18 Character Set
    ]
    original_id = escape(header.control_id) if header is not None else ""
    ack = AckCode.ACCEPTED if error is None else error.ack
    segments = ["MSH|^~\\&|" + "|".join(fields)]
    if error is None:
        segments.append(f"MSA|{ack}|{original_id}")
        return "\r".join(segments) + "\r"
    old = _before_2_5(version)
    segments.append(f"MSA|{ack}|{original_id}" + (f"|{escape(error.text)}" if old else ""))
    location = error.location.parts() if error.location else []
    code = f"{error.code}^{escape(error.code.text)}^HL70357"
    err_1 = ""
    if old:  # ERR-1 (ELD): segment^sequence^field^code&text&table
        where = [escape(part) for part in location[:3]] + [""] * (3 - len(location[:3]))
        err_1 = "^".join([*where, code.replace("^", "&")])
    segments.append(
        "|".join(
            [
                "ERR",
                err_1,  # ERR-1 Error Code and Location (before v2.5)
                "^".join(escape(part) for part in location),  # ERR-2 Error Location
                code,  # ERR-3 HL7 Error Code
                "E",  # ERR-4 Severity: error
                escape(error.reason),  # ERR-5 Application Error Code
                "",  # ERR-6 Application Error Parameter
                "",  # ERR-7 Diagnostic Information
                escape(error.text),  # ERR-8 User Message
            ]
        )
    )
    return "\r".join(segments) + "\r"
