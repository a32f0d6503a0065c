"""The time the scheduling routes act at: now, unless the app was given another clock.

Check-in windows, cancellation cut-offs and "free slots from now on" all depend on the
time. A browser test that walks a patient through next Tuesday's clinic sets
``app.state.scheduling_clock`` to a function returning a moment on that Tuesday.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request

from yilian.db import utcnow


def current_time(request: Request) -> datetime:
    """Now, by the app's scheduling clock (the real one unless a test set another)."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "scheduling_clock", None)
    return clock() if clock is not None else utcnow()


def local_day(request: Request) -> date:
    """Today on the clinics' calendar, by the app's clock."""
    zone = ZoneInfo(request.app.state.settings.scheduling_timezone)
    return current_time(request).astimezone(zone).date()


Now = Annotated[datetime, Depends(current_time)]
Today = Annotated[date, Depends(local_day)]
