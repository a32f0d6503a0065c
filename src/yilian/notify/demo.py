"""The demo's notifications: a welcome in each demo login's inbox, published once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.notify import service as notify
from yilian.notify.models import Notification

WELCOME_KIND = "platform.welcome"


def create_welcome(session: Session, *, user_ids: Sequence[int]) -> Notification | None:
    """Welcome the demo logins to their inbox; nothing when an earlier load already did."""
    if session.scalar(select(Notification.id).where(Notification.kind == WELCOME_KIND)):
        return None
    return notify.publish(
        session, kind=WELCOME_KIND, institution_ids=(), user_ids=user_ids,
        title_zh="欢迎使用医联消息中心",
        title_en="Welcome to the Yilian inbox",
        body_zh="转诊、会诊和预约的进展会在这里通知您；医院管理员可在“回调接口”中"
                "订阅本院系统接收的事件。",
        body_en="Referrals, consultations and bookings tell you here how they progress; "
                "hospital administrators can subscribe their systems to events under Webhooks.",
        link="/inbox",
    )
