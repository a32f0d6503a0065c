"""The referral's pure rules, by worked example (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yilian.errors import Conflict
from yilian.referrals.models import ClockPoint, Direction, TaskStatus
from yilian.referrals.rules import (
    Place,
    clock_results,
    derive_direction,
    is_overdue,
    sniff_document_type,
)
from yilian.referrals.states import ReferralAction, action_for, next_status
from yilian.registry.models import EmergencyCentre

BEIJING = Place(1, 3, None, frozenset({2}))  # leads the county hospital by trusteeship
COUNTY = Place(2, 2, None, frozenset({3}))  # leads the township centre (县域医共体)
TOWNSHIP = Place(3, 1, None, frozenset())
CITY = Place(4, 2, None, frozenset())
CAMPUS = Place(5, 3, 1, frozenset())  # a level-3 campus of Beijing's hospital


def test_direction_follows_levels_then_the_lead_hospital() -> None:
    assert derive_direction(TOWNSHIP, COUNTY) is Direction.UP
    assert derive_direction(BEIJING, COUNTY) is Direction.DOWN
    assert derive_direction(COUNTY, CITY) is Direction.LATERAL
    # Same level: toward the parent hospital is up, toward the campus down.
    assert derive_direction(CAMPUS, BEIJING) is Direction.UP
    assert derive_direction(BEIJING, CAMPUS) is Direction.DOWN
    same_level_member = Place(6, 3, None, frozenset())
    lead = Place(7, 3, None, frozenset({6}))
    assert derive_direction(same_level_member, lead) is Direction.UP


def test_the_transition_table_and_its_fhir_reading() -> None:
    assert next_status(TaskStatus.RECEIVED, ReferralAction.ACCEPT) is TaskStatus.ACCEPTED
    with pytest.raises(Conflict) as refused:
        next_status(TaskStatus.COMPLETED, ReferralAction.CANCEL)
    assert refused.value.zh == "转诊当前状态为“已完成”，不能执行“撤销”"
    assert action_for(TaskStatus.READY, TaskStatus.IN_PROGRESS) is ReferralAction.ARRIVE
    assert action_for(TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED) is ReferralAction.COMPLETE
    with pytest.raises(Conflict):
        action_for(TaskStatus.REQUESTED, TaskStatus.IN_PROGRESS)


def test_deadlines_clock_targets_and_file_types() -> None:
    due = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert is_overdue(TaskStatus.REQUESTED, due, due + timedelta(minutes=1))
    assert not is_overdue(TaskStatus.ACCEPTED, due, due + timedelta(days=1))  # answered
    door = due
    chest_pain = clock_results(EmergencyCentre.CHEST_PAIN, {
        ClockPoint.DOOR: door, ClockPoint.BALLOON: door + timedelta(minutes=97)})
    assert [(r.target.name, r.minutes, r.met) for r in chest_pain] == [
        ("door_to_balloon", 97, False)]
    stroke = clock_results(EmergencyCentre.STROKE, {ClockPoint.DOOR: door})
    assert [(r.target.name, r.minutes, r.met) for r in stroke] == [("door_to_needle", None, None)]
    assert sniff_document_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_document_type(b"\xff\xd8\xff\xe0JFIF") == "image/jpeg"
    assert sniff_document_type(b"<html>%PDF-") is None
