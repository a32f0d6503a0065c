"""Display names of the notification enums, looked up by enum class and value (string
enums with equal values are equal keys, see patients/labels.py)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from yilian.notify.models import AttemptOutcome, Channel, OutboxStatus

NAMES: Final[Mapping[type[enum.Enum], Mapping[str, tuple[str, str]]]] = {
    Channel: {
        Channel.WEBHOOK: ("回调接口", "Webhook"),
        Channel.EMAIL: ("电子邮件", "Email"),
    },
    OutboxStatus: {
        OutboxStatus.PENDING: ("待发送", "Pending"),
        OutboxStatus.DELIVERED: ("已送达", "Delivered"),
        OutboxStatus.DEAD: ("已放弃", "Given up"),
    },
    AttemptOutcome: {
        AttemptOutcome.DELIVERED: ("成功", "Delivered"),
        AttemptOutcome.FAILED: ("失败，稍后重试", "Failed, will retry"),
        AttemptOutcome.GAVE_UP: ("失败，不再重试", "Failed, given up"),
    },
}


def name_of(member: enum.Enum, language: str) -> str:
    """The member's name in the reader's language."""
    zh, en = NAMES[type(member)][member.value]
    return en if language == "en" else zh
