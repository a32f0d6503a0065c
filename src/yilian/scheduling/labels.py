"""Display names of the scheduling enums (Chinese, English) and the pages' display helpers.

Looked up by enum class and value (as the patient index does), since string enums with
equal values are equal keys. Every member of every enum here has a name; a test checks it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from yilian.scheduling.models import (
    AppointmentStatus,
    BookingSource,
    CancelReason,
    ExceptionKind,
    HalfDay,
    SlotStatus,
    StationingMode,
    StationingRole,
    TraineeStatus,
)

NAMES: Final[Mapping[type[enum.Enum], Mapping[str, tuple[str, str]]]] = {
    StationingMode: {"resident": ("常驻", "Resident"), "periodic": ("定期出诊", "Periodic clinic"),
                     "remote": ("远程", "Remote")},
    StationingRole: {"executive_director": ("执行主任", "Executive director"),
                     "attending": ("主诊专家", "Attending expert"),
                     "visiting": ("出诊专家", "Visiting expert")},
    HalfDay: {"morning": ("上午", "Morning"), "afternoon": ("下午", "Afternoon")},
    SlotStatus: {"free": ("可约", "Free"), "busy": ("已约", "Booked"),
                 "busy-unavailable": ("停诊", "Called off")},
    ExceptionKind: {"holiday": ("节假日", "Holiday"), "absence": ("专家停诊", "Expert absent")},
    AppointmentStatus: {
        "proposed": ("拟约", "Proposed"), "pending": ("待确认", "Pending"),
        "booked": ("已预约", "Booked"), "arrived": ("已签到候诊", "Arrived, waiting"),
        "fulfilled": ("已就诊", "Seen"), "cancelled": ("已取消", "Cancelled"),
        "noshow": ("爽约", "No-show"), "entered-in-error": ("录入错误", "Entered in error"),
        "checked-in": ("就诊中", "Being seen"), "waitlist": ("候补", "Waitlist"),
    },
    BookingSource: {"online": ("网上预约", "Online"), "referral": ("转诊预约", "Referral"),
                    "window": ("窗口挂号", "Desk"), "phone": ("电话预约", "Phone")},
    CancelReason: {"patient": ("患者取消", "Cancelled by the patient"),
                   "staff": ("医院取消", "Cancelled by the hospital"),
                   "session_cancelled": ("专家停诊", "Clinic called off"),
                   "rescheduled": ("已改约", "Rescheduled")},
    TraineeStatus: {"planned": ("待进修", "Planned"), "in_training": ("进修中", "In training"),
                    "completed": ("已结业", "Completed"), "withdrawn": ("已退出", "Withdrawn")},
}
WEEKDAYS: Final = (("周一", "Mon"), ("周二", "Tue"), ("周三", "Wed"), ("周四", "Thu"),
                   ("周五", "Fri"), ("周六", "Sat"), ("周日", "Sun"))
LOCAL = ZoneInfo("Asia/Shanghai")


def name_of(member: enum.Enum, language: str) -> str:
    """The display name of a scheduling enum member."""
    names = NAMES[type(member)][str(member.value)]
    return names[1] if language == "en" else names[0]


def weekday_name(weekday: int, language: str) -> str:
    """周二 / Tue."""
    zh, en = WEEKDAYS[weekday]
    return en if language == "en" else zh


def local_time(moment: datetime | None, fmt: str = "%H:%M") -> str:
    """A moment on the clinic's clock."""
    return "" if moment is None else moment.astimezone(LOCAL).strftime(fmt)


def template_helpers(language: str) -> dict[str, Callable[..., Any]]:
    """The scheduling pages' display functions, in the reader's language (page texts use
    ``_()`` and the catalogue, like every other capability's)."""
    return {
        "sname": lambda member: name_of(member, language),
        "weekday_name": lambda weekday: weekday_name(weekday, language),
        "local_time": local_time,
    }
