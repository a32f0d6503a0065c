"""Demo referrals: a year of two-way referral across the Huailai network, bulk-inserted.

Township health centres refer up to the Huailai campus, the campus up to PKU People's
Hospital (some on the chest-pain or stroke green channel, with their clock times), and
Beijing sends patients back down for rehabilitation; the campus sends follow-ups to the
townships. Answers come after realistic delays per urgency; a few are still unanswered past
their deadline (overdue) today. One ``random.Random`` seeded, times anchored to today's
midnight, so a load is the same all day. Directions come from the service's rule; rows are
inserted in bulk (thousands of ORM objects one by one would cost seconds of the demo load).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from yilian.config import Settings
from yilian.db import utcnow
from yilian.patients.models import PatientRecord
from yilian.referrals import rules
from yilian.referrals import service as referrals
from yilian.referrals.models import (
    ClockPoint,
    Direction,
    EventKind,
    Referral,
    ReferralClock,
    ReferralEvent,
    ReferralKind,
    TaskStatus,
    Urgency,
)
from yilian.registry import service as registry
from yilian.registry.models import EmergencyCentre, Institution

SEED = 2026
SHARED_WHILE = frozenset({TaskStatus.ACCEPTED, TaskStatus.READY, TaskStatus.IN_PROGRESS})
CAMPUS, BEIJING = "PKUPH-HL", "PKUPH"
TOWNSHIPS = ("HL-THC-SHACHENG", "HL-THC-CUNRUI", "HL-THC-XINBAOAN", "HL-THC-DONGHUAYUAN")
UP_FROM_TOWNSHIPS, UP_TO_BEIJING, OVERDUE = 160, 260, 6
# (ICD-10, diagnosis, department at the receiving hospital, kind)
CASES = (
    ("I20.0", "不稳定型心绞痛", "CARD", ReferralKind.INPATIENT),
    ("I48.9", "心房颤动", "CARD", ReferralKind.OUTPATIENT),
    ("I50.9", "心力衰竭", "CARD", ReferralKind.INPATIENT),
    ("I10", "原发性高血压", "CARD", ReferralKind.OUTPATIENT),
    ("G45.9", "短暂性脑缺血发作", "NEUR", ReferralKind.INPATIENT),
    ("J44.1", "慢性阻塞性肺疾病急性加重", "RESP", ReferralKind.INPATIENT),
    ("J18.9", "肺炎", "RESP", ReferralKind.INPATIENT),
    ("K80.2", "胆囊结石", "GSUR", ReferralKind.INPATIENT),
    ("K92.2", "消化道出血", "GAST", ReferralKind.INPATIENT),
    ("C34.9", "肺恶性肿瘤", "ONCO", ReferralKind.EXAMINATION),
    ("C16.9", "胃恶性肿瘤", "ONCO", ReferralKind.INPATIENT),
    ("E11.9", "2 型糖尿病", "ENDO", ReferralKind.OUTPATIENT),
    ("N18.5", "慢性肾脏病 5 期", "NEPH", ReferralKind.OUTPATIENT),
    ("S72.0", "股骨颈骨折", "ORTH", ReferralKind.INPATIENT),
    ("M17.9", "膝关节骨关节炎", "ORTH", ReferralKind.OUTPATIENT),
    ("O14.1", "重度子痫前期", "OBST", ReferralKind.INPATIENT),
)
GREEN = (
    ("I21.9", "急性心肌梗死", "CARD", EmergencyCentre.CHEST_PAIN),
    ("I63.9", "脑梗死", "NEUR", EmergencyCentre.STROKE),
)


@dataclass
class _Batch:
    """The rows of one load, and the times of each referral's steps."""

    referrals: list[dict[str, Any]] = field(default_factory=list)
    steps: list[list[tuple[TaskStatus, datetime, str, str]]] = field(default_factory=list)
    clocks: list[list[tuple[ClockPoint, datetime]]] = field(default_factory=list)


class _Maker:
    """Builds the demo's referral rows deterministically."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self.rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
        self.today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        self.batch = _Batch()
        self.directions: dict[tuple[int, int], Direction] = {}
        self.departments: dict[tuple[int, str], int] = {}
        self.people: dict[int, list[int]] = {}

    def institution(self, code: str) -> Institution:
        return registry.institution_by_code_or_raise(self.session, code=code)

    def department(self, institution: Institution, code: str) -> int | None:
        if not self.departments or (institution.id, "") not in self.departments:
            for department in registry.list_departments(self.session,
                                                        institution_id=institution.id):
                self.departments[(institution.id, department.code)] = department.id
            self.departments[(institution.id, "")] = 0
        return self.departments.get((institution.id, code))

    def direction(self, origin: Institution, target: Institution) -> Direction:
        key = (origin.id, target.id)
        if key not in self.directions:
            self.directions[key] = referrals.direction_between(self.session, origin=origin,
                                                               target=target)
        return self.directions[key]

    def people_at(self, institution: Institution) -> list[int]:
        if institution.id not in self.people:
            self.people[institution.id] = sorted(set(self.session.scalars(
                select(PatientRecord.person_id).where(PatientRecord.institution_id
                                                      == institution.id))))
        return self.people[institution.id]

    def add(self, *, person_id: int, origin: Institution, target: Institution, case: tuple[
            str, str, str, ReferralKind], urgency: Urgency, created: datetime,
            green: EmergencyCentre | None = None, overdue: bool = False,
            based_on: int | None = None, reason: str = "") -> None:
        code, text, department_code, kind = case
        due = created + rules.response_window(self.settings, urgency)
        row = {
            "person_id": person_id, "referring_institution_id": origin.id,
            "target_institution_id": target.id,
            "target_department_id": self.department(target, department_code),
            "direction": self.direction(origin, target), "direction_override_reason": "",
            "kind": kind, "urgency": urgency, "green_channel": green,
            "diagnosis_code": code, "diagnosis_text": text,
            "reason": reason or f"{text}，需上级医院进一步诊治", "clinical_summary": "",
            "consent_recorded": True, "consent_note": "患者本人同意",
            "requested_at": created, "response_due_at": due, "based_on_id": based_on,
            "created_at": created, "version": 1,
        }
        steps: list[tuple[TaskStatus, datetime, str, str]] = [
            (TaskStatus.REQUESTED, created, "", str(row["reason"]))]
        self.batch.clocks.append([])
        if not overdue:
            self._answer(row, steps, urgency, created, green)
        row["status"] = steps[-1][0]
        row["updated_at"] = steps[-1][1]
        for name in ("response_reason", "advice", "appointment_place", "appointment_ref",
                     "ward", "bed", "outcome_summary", "follow_up_plan"):
            row.setdefault(name, "")
        for name in ("responded_at", "escalated_at", "appointment_at", "arrived_at",
                     "completed_at", "referring_department_id", "referring_practitioner_id",
                     "referring_user_id", "target_practitioner_id",
                     "appointment_department_id"):
            row.setdefault(name, None)
        self.batch.referrals.append(row)
        self.batch.steps.append(steps)

    def _answer(self, row: dict[str, Any], steps: list[tuple[TaskStatus, datetime, str, str]],
                urgency: Urgency, created: datetime, green: EmergencyCentre | None) -> None:
        rng, now = self.rng, utcnow()
        minutes = {Urgency.EMERGENCY: (2, 14), Urgency.URGENT: (15, 260),
                   Urgency.ROUTINE: (60, 3000)}[urgency]
        answered = created + timedelta(minutes=rng.randint(*minutes))
        if answered > now:
            return
        row["responded_at"] = answered
        fate = rng.random()
        if fate < 0.06:
            row["response_reason"] = "床位已满，建议转往其他医联体成员医院"
            steps.append((TaskStatus.REJECTED, answered, "reject", row["response_reason"]))
            return
        if fate < 0.10 and not green:
            row["advice"] = "建议先在本院完善检查并调整用药，2 周后复诊评估"
            row["completed_at"] = answered
            steps.append((TaskStatus.COMPLETED, answered, "advise", row["advice"]))
            return
        steps.append((TaskStatus.ACCEPTED, answered, "accept", ""))
        if green:
            door = answered + timedelta(minutes=rng.randint(20, 50))
            target_minutes = rng.choice((52, 61, 68, 75, 84, 88, 97, 112))
            point = ClockPoint.BALLOON if green is EmergencyCentre.CHEST_PAIN else (
                ClockPoint.NEEDLE)
            if green is EmergencyCentre.STROKE:
                target_minutes = rng.choice((38, 45, 52, 57, 66, 74))
            self.batch.clocks[-1] = [(ClockPoint.DOOR, door), (point, door + timedelta(
                minutes=target_minutes))]
        elif rng.random() < 0.05:
            steps.append((TaskStatus.CANCELLED, answered + timedelta(hours=3), "cancel",
                          "患者家属决定暂缓转院"))
            return
        arrived = answered + (timedelta(minutes=rng.randint(30, 120)) if green
                              else timedelta(hours=rng.randint(6, 60)))
        if arrived > now:
            return
        if rng.random() < 0.03:
            steps.append((TaskStatus.FAILED, arrived, "fail", "患者未按约到诊"))
            return
        row["ward"], row["bed"] = "一病区", str(rng.randint(1, 40))
        steps.append((TaskStatus.READY, answered + timedelta(minutes=20), "book", ""))
        row["arrived_at"] = arrived
        steps.append((TaskStatus.IN_PROGRESS, arrived, "arrive", ""))
        done = arrived + timedelta(days=rng.randint(3, 12))
        if done > now:
            return
        row["outcome_summary"] = f"{row['diagnosis_text']}经治疗好转出院。"
        row["follow_up_plan"] = "回基层医院康复及随访，1 个月后复查"
        row["completed_at"] = done
        steps.append((TaskStatus.COMPLETED, done, "complete", row["outcome_summary"]))

    def when(self, days_back: int) -> datetime:
        return self.today - timedelta(days=days_back, minutes=-self.rng.randint(7 * 60, 20 * 60))


def create_referrals(session: Session, settings: Settings) -> int:
    """Load a year of demo referrals; how many were made."""
    maker = _Maker(session, settings)
    rng = maker.rng
    campus, beijing = maker.institution(CAMPUS), maker.institution(BEIJING)
    townships = [maker.institution(code) for code in TOWNSHIPS]
    at_campus = maker.people_at(campus)
    if not at_campus:
        return 0
    for _ in range(UP_FROM_TOWNSHIPS):
        origin = rng.choice(townships)
        people = maker.people_at(origin) or at_campus
        maker.add(person_id=rng.choice(people), origin=origin, target=campus,
                  case=rng.choice(CASES), urgency=rng.choice((Urgency.ROUTINE,) * 4
                                                             + (Urgency.URGENT,)),
                  created=maker.when(rng.randint(1, 365)))
    for index in range(UP_TO_BEIJING):
        green = GREEN[index % 2] if index % 12 == 0 else None
        case = (green[0], green[1], green[2], ReferralKind.INPATIENT) if green else (
            rng.choice(CASES))
        urgency = Urgency.EMERGENCY if green else rng.choice(
            (Urgency.ROUTINE, Urgency.ROUTINE, Urgency.URGENT))
        maker.add(person_id=rng.choice(at_campus), origin=campus, target=beijing, case=case,
                  urgency=urgency, green=green[3] if green else None,
                  created=maker.when(rng.randint(1, 365)))
    for index in range(OVERDUE):
        urgency = (Urgency.URGENT, Urgency.ROUTINE)[index % 2]
        late = rules.response_window(settings, urgency) + timedelta(hours=1 + index)
        maker.add(person_id=rng.choice(at_campus), origin=campus, target=beijing,
                  case=rng.choice(CASES), urgency=urgency, created=utcnow() - late,
                  overdue=True)
    up_rows = maker.batch.referrals
    ups = _insert(session, maker.batch)
    # Back down: most patients Beijing discharged return to the campus for rehabilitation.
    maker.batch = _Batch()
    for up_id, row in zip(ups, up_rows, strict=True):
        if (row["target_institution_id"] == beijing.id and row.get("completed_at")
                and row["outcome_summary"] and rng.random() < 0.7):
            rehab = ("Z50.1", "康复治疗", "REHB", ReferralKind.REHABILITATION)
            maker.add(person_id=row["person_id"], origin=beijing, target=campus, case=rehab,
                      urgency=Urgency.ROUTINE, based_on=up_id,
                      created=row["completed_at"] + timedelta(hours=2),
                      reason=row["follow_up_plan"])
    down_rows = maker.batch.referrals
    downs = _insert(session, maker.batch)
    _share_while_in_care(session, settings, ups + downs, up_rows + down_rows)
    return len(ups) + len(downs)


def _share_while_in_care(session: Session, settings: Settings, ids: list[int],
                         rows: list[dict[str, Any]]) -> None:
    """Patients still in the receiving hospital's care are shared with it, as accepting
    does."""
    for referral_id, row in zip(ids, rows, strict=True):
        if row["status"] in SHARED_WHILE:
            referral = session.get(Referral, referral_id)
            if referral is not None:
                referrals.share_records(session, settings, referral=referral)


@dataclass(frozen=True)
class FollowUpAsk:
    """A referral the requester starts from a signed consultation report (another demo's)."""

    person_id: int
    origin_code: str
    target_code: str
    diagnosis_code: str
    diagnosis_text: str
    department_code: str
    urgency: Urgency
    created_at: datetime
    reason: str


def create_follow_ups(session: Session, settings: Settings,
                      asks: list[FollowUpAsk]) -> list[int]:
    """Referrals started from consultation reports, answered like the demo's others (same
    delays and outcomes); their ids, in the order asked."""
    maker = _Maker(session, settings)
    for ask in asks:
        maker.add(person_id=ask.person_id, origin=maker.institution(ask.origin_code),
                  target=maker.institution(ask.target_code),
                  case=(ask.diagnosis_code, ask.diagnosis_text, ask.department_code,
                        ReferralKind.INPATIENT),
                  urgency=ask.urgency, created=ask.created_at, reason=ask.reason)
    rows = maker.batch.referrals
    ids = _insert(session, maker.batch)
    _share_while_in_care(session, settings, ids, rows)
    return ids


def _insert(session: Session, batch: _Batch) -> list[int]:
    """Insert the batch's referrals, their timelines and clock times in three statements."""
    if not batch.referrals:
        return []
    ids = list(session.scalars(
        insert(Referral).returning(Referral.id, sort_by_parameter_order=True),
        batch.referrals))
    events, clocks = [], []
    for referral_id, steps, row, times in zip(ids, batch.steps, batch.referrals, batch.clocks,
                                              strict=True):
        previous: TaskStatus | None = None
        for status, at, action, text in steps:
            events.append({
                "referral_id": referral_id,
                "kind": EventKind.CREATED if previous is None else EventKind.TRANSITION,
                "action": action, "from_status": previous, "to_status": status,
                "actor": "demo", "actor_user_id": None,
                "actor_institution_id": row["referring_institution_id"] if previous is None
                else row["target_institution_id"],
                "reason": text if status in (TaskStatus.REJECTED, TaskStatus.CANCELLED,
                                             TaskStatus.FAILED, TaskStatus.REQUESTED) else "",
                "note": text if status is TaskStatus.COMPLETED else "", "at": at,
            })
            previous = status
        clocks += [{"referral_id": referral_id, "point": point, "at": at,
                    "recorded_by": "demo"} for point, at in times]
    session.execute(insert(ReferralEvent), events)
    if clocks:
        session.execute(insert(ReferralClock), clocks)
    return ids
