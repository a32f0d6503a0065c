"""The scheduling capability's front: the verbs other capabilities and the routes call.

``book`` is what the referrals capability calls for its "book" step;
``notices.create_notice`` makes every reschedule notice (the hook for ``yilian.notify``).
"""

from __future__ import annotations

from yilian.scheduling.booking import (
    DESK_SOURCES,
    SlotFull,
    authorize_desk,
    book,
    book_at_desk,
    cancel,
    cancel_at_desk,
    get_or_raise,
    list_for_person,
    may_see,
    my_appointments,
    rebook_from_notice,
    upcoming_for_person,
)
from yilian.scheduling.checkin import (
    call_next,
    check_in,
    mark_noshow,
    queue,
    queue_for,
    set_status,
)
from yilian.scheduling.notices import create_notice, notices_for
from yilian.scheduling.slots import (
    SessionPlan,
    absent_days,
    add_exception,
    clinic_hours,
    create_session,
    free_slots,
    generate,
    get_session_or_raise,
    get_slot_or_raise,
    local_today,
)
from yilian.scheduling.stationing import (
    attach_stationing,
    attach_traineeship,
    create_stationing,
    create_traineeship,
    department_directors,
    list_stationed,
    list_trainees,
    set_trainee_status,
)

__all__ = [
    "DESK_SOURCES",
    "SessionPlan",
    "SlotFull",
    "absent_days",
    "add_exception",
    "attach_stationing",
    "attach_traineeship",
    "authorize_desk",
    "book",
    "book_at_desk",
    "call_next",
    "cancel",
    "cancel_at_desk",
    "check_in",
    "clinic_hours",
    "create_notice",
    "create_session",
    "create_stationing",
    "create_traineeship",
    "department_directors",
    "free_slots",
    "generate",
    "get_or_raise",
    "get_session_or_raise",
    "get_slot_or_raise",
    "list_for_person",
    "list_stationed",
    "list_trainees",
    "local_today",
    "mark_noshow",
    "may_see",
    "my_appointments",
    "notices_for",
    "queue",
    "queue_for",
    "rebook_from_notice",
    "set_status",
    "set_trainee_status",
    "upcoming_for_person",
]
