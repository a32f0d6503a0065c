"""Demo consultations: a year of them between the Huailai campus and PKU People's Hospital
(the trusteeship's telemedicine network and co-built departments), and between the Baoding
hospitals and their Beijing partners (the Children's Hospital's trusteeship and nephrology
ward, PKU Cancer's GI surgery, Guang'anmen's cardiology, PKU Stomatology's maxillofacial
surgery, Tiantan's neurology).

Every kind (single-specialty, MDT, ward rounds and case discussions with several patients,
teaching rounds) and every outcome: declined with a reason, withdrawn, still waiting (some
past their deadline and escalated), accepted, scheduled, reported and closed; a share of
the reports recommend a referral up, which the requester started. Answers come after
realistic delays per urgency (most within the deadline); sessions sit in working hours
and never overlap for an expert; every assigned expert signs the same frozen content.

The rows are what the service writes (statuses the transition table allows, versions,
timelines, the response clock stopped by the answer), inserted in bulk: a few thousand
ORM objects and audit records one by one would cost seconds of the demo load. Each
consulted hospital gets a coordinator account and each expert used an account (their
signatures and attendance name a user), all with the demo password, hashed once. Records
are shared with the consulted hospital for the open consultations only, through the
patient index as requesting does. One seeded ``random.Random``; times follow today.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, lazyload

from yilian.auth import service as users
from yilian.auth.models import Role, User
from yilian.auth.security import hash_password
from yilian.config import Settings
from yilian.consultations import availability, sharing
from yilian.consultations import report as reports
from yilian.consultations.models import (
    Consultation,
    ConsultationAmendment,
    ConsultationAttendance,
    ConsultationEvent,
    ConsultationExpert,
    ConsultationKind,
    ConsultationPatient,
    ConsultationReport,
    ConsultationStatus,
    ReportSignature,
)
from yilian.consultations.service import new_room_token, response_window
from yilian.consultations.states import OPEN, ConsultationAction, next_status
from yilian.db import utcnow
from yilian.patients.models import PatientRecord
from yilian.referrals import demo as referrals_demo
from yilian.referrals.models import Urgency
from yilian.registry import service as registry
from yilian.registry.models import Institution, Practitioner, PractitionerTitle

SEED = 2026
ACTOR = "demo"
S = ConsultationStatus
A = ConsultationAction
SENIOR = (PractitionerTitle.CHIEF_PHYSICIAN, PractitionerTitle.ASSOCIATE_CHIEF_PHYSICIAN)


@dataclass(frozen=True)
class Case:
    """What a consultation is about: diagnosis, the specialty asked for, the question."""

    code: str
    text: str
    specialty: str
    question: str


@dataclass(frozen=True)
class Partnership:
    """Who asks whom, about what, how often a year; the MDT's other specialties."""

    requester: str
    consulted: str
    per_year: int
    cases: tuple[Case, ...]
    mdt_with: tuple[str, ...]


PARTNERSHIPS = (
    Partnership("PKUPH-HL", "PKUPH", 140, (
        Case("I25.1", "冠状动脉粥样硬化性心脏病", "cardiology", "多支病变，介入还是外科搭桥？"),
        Case("I50.9", "心力衰竭", "cardiology", "利尿剂抵抗，下一步治疗方案？"),
        Case("I63.9", "脑梗死", "neurology", "溶栓后症状波动，是否需要取栓？"),
        Case("J44.1", "慢性阻塞性肺疾病急性加重", "respiratory", "无创通气效果欠佳，是否插管？"),
        Case("C34.9", "肺恶性肿瘤", "oncology", "病理已明确，请制定综合治疗方案"),
        Case("K92.2", "消化道出血", "gastroenterology", "内镜止血后再出血，是否介入栓塞？"),
        Case("E11.9", "2 型糖尿病", "endocrinology", "血糖控制不佳合并肾功能下降，如何调整？"),
        Case("N18.5", "慢性肾脏病 5 期", "nephrology", "透析方式选择与时机？"),
        Case("S72.0", "股骨颈骨折", "orthopaedics", "高龄合并心衰，手术风险评估？"),
    ), ("radiology", "critical_care", "general_surgery")),
    Partnership("BCH-BD", "BCH", 60, (
        Case("N04.9", "肾病综合征", "nephrology", "激素耐药，是否肾穿刺并换用免疫抑制剂？"),
        Case("P07.3", "早产儿", "neonatology", "呼吸支持撤离困难，请会诊"),
        Case("J18.9", "重症肺炎", "respiratory", "抗感染效果欠佳，病原学与治疗调整？"),
        Case("C91.0", "急性淋巴细胞白血病", "haematology", "诱导缓解后微小残留病阳性，方案？"),
        Case("G40.9", "癫痫", "neurology", "药物难治，是否评估手术？"),
    ), ("radiology", "critical_care", "cardiology")),
    Partnership("BDFCH", "PKUCH", 36, (
        Case("C16.9", "胃恶性肿瘤", "general_surgery", "局部进展期，新辅助治疗还是直接手术？"),
        Case("C34.9", "肺恶性肿瘤", "thoracic_surgery", "纵隔淋巴结肿大，手术指征？"),
        Case("C50.9", "乳腺恶性肿瘤", "breast_surgery", "保乳还是全切，术后辅助方案？"),
        Case("C18.9", "结肠恶性肿瘤", "oncology", "肝转移可否转化切除？"),
    ), ("radiology", "pathology", "radiotherapy")),
    Partnership("BDTCM", "GAMH", 24, (
        Case("I25.1", "冠状动脉粥样硬化性心脏病", "cardiology", "支架术后胸闷，中西医结合调治？"),
        Case("E11.9", "2 型糖尿病", "endocrinology", "糖尿病周围神经病变，中医辨证用药？"),
        Case("J44.1", "慢性阻塞性肺疾病急性加重", "respiratory", "缓解期扶正固本方案？"),
    ), ("radiology", "acupuncture", "gastroenterology")),
    Partnership("BDSH-KQ", "PKUSS", 18, (
        Case("K07.1", "颌骨畸形", "oral_maxillofacial_surgery", "正颌手术方案设计？"),
        Case("C03.9", "牙龈恶性肿瘤", "oral_maxillofacial_surgery", "切除范围与颈淋巴清扫？"),
        Case("K05.3", "慢性牙周炎", "periodontics", "重度牙周炎能否保留患牙？"),
        Case("K08.1", "牙列缺损", "implantology", "骨量不足，种植方案？"),
    ), ("radiology", "orthodontics", "prosthodontics")),
    Partnership("HBUAH", "BJTTH", 30, (
        Case("I63.9", "脑梗死", "neurology", "大血管闭塞，是否桥接取栓？"),
        Case("I60.9", "蛛网膜下腔出血", "neurosurgery", "动脉瘤夹闭还是介入栓塞？"),
        Case("G20", "帕金森病", "neurology", "运动波动明显，是否评估脑深部电刺激？"),
        Case("D32.0", "脑膜瘤", "neurosurgery", "术后残留，随访还是放疗？"),
    ), ("radiology", "neurology", "critical_care")),
)
KINDS = (ConsultationKind.SINGLE, ConsultationKind.MDT, ConsultationKind.WARD_ROUND,
         ConsultationKind.CASE_DISCUSSION, ConsultationKind.TEACHING)
KIND_WEIGHTS = (45, 20, 12, 13, 10)
SEVERAL_PATIENTS = frozenset({ConsultationKind.WARD_ROUND, ConsultationKind.CASE_DISCUSSION,
                              ConsultationKind.TEACHING})
SESSION_MINUTES = {ConsultationKind.SINGLE: 45, ConsultationKind.MDT: 60,
                   ConsultationKind.WARD_ROUND: 90, ConsultationKind.CASE_DISCUSSION: 60,
                   ConsultationKind.TEACHING: 90}
RECENT_SHARE = 12  # one in this many of a partnership's requests came in the last week
OVERDUE = 4  # requests still unanswered past their deadline today
ON_TIME_SHARE = 0.88
DECLINE_REASONS = (
    "请先完善增强 CT 及病理检查后再申请",
    "所需专业专家本周外出，建议改约其他专家",
    "病情稳定，建议按常规门诊预约",
    "资料不全，请补充近期检验结果",
)
REFER_UP_SHARE = 0.2  # of the signed reports (single-specialty and MDT)


@dataclass
class _Planned:
    """One consultation's row and the rows hanging off it, before ids exist."""

    row: dict[str, Any]
    people: list[int]
    experts: list[Practitioner] = field(default_factory=list)
    steps: list[tuple[A | str, datetime, str, str]] = field(default_factory=list)
    attendance: list[tuple[Practitioner | None, datetime]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    signed: list[tuple[Practitioner, datetime]] = field(default_factory=list)
    amendment: tuple[str, datetime] | None = None
    follow_up: referrals_demo.FollowUpAsk | None = None


@dataclass
class DemoConsultations:
    """What the demo created."""

    consultations: int = 0
    accounts: int = 0
    follow_up_referrals: int = 0


class _Maker:
    """Builds the demo's consultation rows deterministically."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self.rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
        self.zone = ZoneInfo(settings.scheduling_timezone)
        self.now = utcnow()
        self.today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.planned: list[_Planned] = []
        self.busy: dict[int, list[tuple[datetime, datetime]]] = {}
        self.coordinators: dict[int, User] = {}
        self.experts_used: dict[int, Practitioner] = {}
        self.doctor: User | None = None  # the demo's Huailai cardiologist, who asks too

    # ------------------------------------------------------------ who

    def people_at(self, institution: Institution) -> list[int]:
        return sorted(set(self.session.scalars(select(PatientRecord.person_id).where(
            PatientRecord.institution_id == institution.id))))

    def staff_of(self, institution: Institution) -> list[Practitioner]:
        return list(self.session.scalars(select(Practitioner).where(
            Practitioner.institution_id == institution.id).order_by(Practitioner.id)
            .options(lazyload("*"))))

    def expert(self, staff: list[Practitioner], specialty: str,
               taken: list[Practitioner]) -> Practitioner | None:
        senior = [p for p in staff if p.specialty == specialty and p.title in SENIOR
                  and p not in taken]
        return self.rng.choice(senior) if senior else None

    # ------------------------------------------------------------ when

    def working_time(self, after: datetime, minutes: int,
                     experts: list[Practitioner]) -> datetime:
        """The first half hour on a working day (09:00-17:00 local) from ``after`` at which
        none of the experts is in another demo session."""
        local = after.astimezone(self.zone)
        moment = local.replace(minute=0 if local.minute == 0 else 30, second=0,
                               microsecond=0)
        if moment < local:
            moment += timedelta(minutes=30)
        length = timedelta(minutes=minutes)
        while True:
            opens = datetime.combine(moment.date(), time(9), tzinfo=self.zone)
            closes = datetime.combine(moment.date(), time(17), tzinfo=self.zone)
            if moment.weekday() >= 5 or moment + length > closes:
                moment = opens + timedelta(days=1)
                continue
            moment = max(moment, opens)
            if self.is_free(moment, minutes, experts):
                return moment
            moment += timedelta(minutes=30)

    def is_free(self, moment: datetime, minutes: int, experts: list[Practitioner]) -> bool:
        """No other demo session of theirs then; and, for a session still to come, none of
        their clinics or absences either (what scheduling through the service checks)."""
        end = moment + timedelta(minutes=minutes)
        if any(availability.overlaps(start, stop, moment, end)
               for expert in experts for start, stop in self.busy.get(expert.id, [])):
            return False
        return end <= self.now or not availability.clashes(
            self.session, practitioner_ids=[e.id for e in experts], start=moment, end=end,
            zone=self.settings.scheduling_timezone)

    def free_time(self, after: datetime, minutes: int,
                  experts: list[Practitioner]) -> datetime:
        """The first moment from ``after`` (in steps of 15 minutes) the experts are free."""
        moment = after
        while not self.is_free(moment, minutes, experts):
            moment += timedelta(minutes=15)
        return moment

    def requested_at(self, days_back: int) -> datetime:
        """A time in the working day ``days_back`` days ago (earlier today: before now)."""
        local_day = (self.now - timedelta(days=days_back)).astimezone(self.zone).date()
        opens = datetime.combine(local_day, time(8), tzinfo=self.zone)
        moment = opens + timedelta(minutes=self.rng.randint(0, 9 * 60))
        if moment >= self.now:
            moment = self.now - timedelta(minutes=self.rng.randint(10, 8 * 60))
        return moment

    def response_minutes(self, urgency: Urgency) -> float:
        window = response_window(self.settings, urgency).total_seconds() / 60
        if self.rng.random() < ON_TIME_SHARE:
            return self.rng.uniform(0.08, 0.95) * window
        return self.rng.uniform(1.05, 1.8) * window

    # ------------------------------------------------------------ one consultation

    def plan(self, partnership: Partnership, requester: Institution, consulted: Institution,
             staff: list[Practitioner], local_staff: list[Practitioner], people: list[int],
             doctor: User | None, *, requested: datetime, overdue: bool = False) -> None:
        rng = self.rng
        kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
        case = rng.choice(partnership.cases)
        urgency = Urgency.ROUTINE
        if kind in (ConsultationKind.SINGLE, ConsultationKind.MDT):
            urgency = rng.choices((Urgency.ROUTINE, Urgency.URGENT, Urgency.EMERGENCY),
                                  weights=(70, 22, 8))[0]
        count = rng.randint(2, 4) if kind in SEVERAL_PATIENTS else 1
        patients = rng.sample(people, min(count, len(people)))
        asker = next((p for p in local_staff if p.specialty == case.specialty), None)
        by_doctor = doctor is not None and case.specialty == "cardiology"
        question = case.question if kind not in SEVERAL_PATIENTS else (
            f"{len(patients)} 例{case.text}患者，{case.question}")
        row: dict[str, Any] = {
            "kind": kind, "urgency": urgency, "status": S.REQUESTED, "version": 1,
            "person_id": patients[0], "requesting_institution_id": requester.id,
            "requesting_user_id": doctor.id if by_doctor and doctor else None,
            "requesting_practitioner_id": asker.id if asker else None,
            "target_institution_id": consulted.id, "target_department_id": None,
            "target_specialty": case.specialty, "requested_expert_ids": "",
            "diagnosis_code": case.code, "diagnosis_text": case.text, "question": question,
            "clinical_summary": f"{case.text}，本院治疗后效果欠佳，附近期检查结果。",
            "preferred_times": "", "referral_id": None, "requested_at": requested,
            "response_due_at": requested + response_window(self.settings, urgency),
            "responded_at": None, "escalated_at": None, "coordinator_user_id": None,
            "decline_reason": "", "starts_at": None, "ends_at": None, "room_token": None,
            "closed_at": None, "follow_up_referral_id": None, "created_at": requested,
        }
        planned = _Planned(row=row, people=patients)
        planned.steps.append(("created", requested, "", question))
        self.planned.append(planned)
        if overdue:
            self._escalate(planned)
            return
        answered = requested + timedelta(minutes=self.response_minutes(urgency))
        fate = rng.random()
        if fate < 0.03:  # withdrawn by the requester before any answer
            withdrawn = requested + (answered - requested) * rng.uniform(0.2, 0.8)
            if withdrawn <= self.now:
                self._step(planned, A.CANCEL, withdrawn, "患者病情好转，暂不需要会诊")
                row["closed_at"] = withdrawn
                return
        if answered > self.now:
            self._escalate(planned)
            return
        if fate < 0.10:
            reason = rng.choice(DECLINE_REASONS)
            row["decline_reason"] = reason
            row["responded_at"] = answered
            row["coordinator_user_id"] = self._coordinator(consulted)
            self._step(planned, A.DECLINE, answered, reason)
            return
        self._accepted(planned, partnership, consulted, staff, case, answered)

    def _escalate(self, planned: _Planned) -> None:
        """Unanswered: past its deadline the escalation job has flagged it once."""
        due = planned.row["response_due_at"]
        if due < self.now - timedelta(minutes=5):
            planned.row["escalated_at"] = due + timedelta(minutes=5)
            planned.row["version"] += 1
            planned.steps.append(("escalated", due + timedelta(minutes=5), "",
                                  "超时未受理 / overdue"))

    def _coordinator(self, consulted: Institution) -> int:
        return self.coordinators[consulted.id].id

    def _step(self, planned: _Planned, action: A, at: datetime, reason: str = "",
              note: str = "") -> None:
        """One transition, checked by the workflow's own table."""
        planned.row["status"] = next_status(planned.row["status"], action)
        planned.row["version"] += 1
        planned.steps.append((action, at, reason, note))

    def _accepted(self, planned: _Planned, partnership: Partnership, consulted: Institution,
                  staff: list[Practitioner], case: Case, answered: datetime) -> None:
        rng, row = self.rng, planned.row
        kind = row["kind"]
        wanted = [case.specialty]
        if kind is ConsultationKind.MDT:
            wanted += rng.sample(partnership.mdt_with, 2)
        elif kind in (ConsultationKind.CASE_DISCUSSION, ConsultationKind.WARD_ROUND):
            wanted += rng.sample(partnership.mdt_with, rng.randint(0, 1))
        experts: list[Practitioner] = []
        for specialty in wanted:
            found = self.expert(staff, specialty, experts)
            if found is not None:
                experts.append(found)
        if (kind is ConsultationKind.MDT and len(experts) < 2) or not experts:
            found = self.expert(staff, case.specialty, experts) or next(
                p for p in staff if p.title in SENIOR and p not in experts)
            experts.append(found)
        planned.experts = experts
        for expert in experts:
            self.experts_used[expert.id] = expert
        row["responded_at"] = answered
        row["coordinator_user_id"] = self._coordinator(consulted)
        row["target_department_id"] = experts[0].department_id
        self._step(planned, A.ACCEPT, answered)
        scheduled_at = answered + timedelta(minutes=rng.randint(5, 60))
        if scheduled_at > self.now:
            return
        minutes = 30 if row["urgency"] is Urgency.EMERGENCY else SESSION_MINUTES[kind]
        earliest = scheduled_at + {Urgency.EMERGENCY: timedelta(minutes=20),
                                   Urgency.URGENT: timedelta(hours=2),
                                   Urgency.ROUTINE: timedelta(days=1)}[row["urgency"]]
        if row["urgency"] is Urgency.EMERGENCY:  # an emergency is seen at once, any hour
            starts = self.free_time(earliest.replace(second=0, microsecond=0), minutes,
                                    experts)
        else:
            starts = self.working_time(earliest + timedelta(hours=rng.randint(0, 48)),
                                       minutes, experts)
        ends = starts + timedelta(minutes=minutes)
        for expert in experts:
            self.busy.setdefault(expert.id, []).append((starts, ends))
        row["starts_at"], row["ends_at"] = starts, ends
        row["room_token"] = new_room_token()
        self._step(planned, A.SCHEDULE, scheduled_at, note=starts.isoformat())
        if starts > self.now:
            return
        self._step(planned, A.START, starts)
        for expert in experts:
            planned.attendance.append((expert, starts + timedelta(minutes=rng.randint(0, 4))))
        if row["requesting_user_id"] is not None:
            planned.attendance.append((None, starts + timedelta(minutes=rng.randint(0, 3))))
        self._report(planned, case, ends)

    def _report(self, planned: _Planned, case: Case, ends: datetime) -> None:
        rng, row = self.rng, planned.row
        first = ends + timedelta(minutes=rng.randint(10, 180))
        signed = [first]
        for _ in planned.experts[1:]:
            signed.append(signed[-1] + timedelta(minutes=rng.randint(5, 20 * 60)))
        if signed[-1] > self.now:
            return  # the session was today: the experts are still writing
        refer_up = (row["kind"] in (ConsultationKind.SINGLE, ConsultationKind.MDT)
                    and rng.random() < REFER_UP_SHARE)
        recommendations = (f"建议转诊至我院{case.specialty}专科进一步诊治" if refer_up
                           else "建议在本院继续治疗，按方案调整用药，4 周后复查并随访")
        content = ConsultationReport(
            findings=f"{case.text}：复习病史、影像及检验资料。",
            assessment=f"{case.text}诊断明确，" + ("需上级医院手术或介入治疗。" if refer_up
                                                 else "目前可在当地医院规范治疗。"),
            recommendations=recommendations, refer_up=refer_up)
        digest = reports.content_hash(content)
        planned.report = {
            "findings": content.findings, "assessment": content.assessment,
            "recommendations": recommendations, "refer_up": refer_up,
            "drafted_by": self._username(planned.experts[0]), "updated_at": first,
            "content_sha256": digest,
        }
        for expert, at in zip(planned.experts, signed, strict=True):
            planned.signed.append((expert, at))
            planned.steps.append(("signed", at, "", digest))
        self._step(planned, A.SIGN_OFF, signed[-1])
        if rng.random() < 0.05:
            at = signed[-1] + timedelta(hours=rng.randint(2, 72))
            if at <= self.now:
                planned.amendment = ("补充：复查结果回报后，治疗方案不变。", at)
                planned.steps.append(("amended", at, "", planned.amendment[0]))
        if refer_up:
            referred = signed[-1] + timedelta(hours=rng.randint(1, 48))
            if referred <= self.now:
                planned.follow_up = referrals_demo.FollowUpAsk(
                    person_id=row["person_id"], origin_code="", target_code="",
                    diagnosis_code=row["diagnosis_code"], diagnosis_text=row["diagnosis_text"],
                    department_code="", urgency=row["urgency"], created_at=referred,
                    reason=recommendations)
                row["version"] += 1
                planned.steps.append(("referred", referred, "", ""))
        closes = signed[-1] + timedelta(hours=rng.randint(2, 96))
        if closes <= self.now and (planned.follow_up is None
                                   or closes > planned.follow_up.created_at):
            row["closed_at"] = closes
            self._step(planned, A.CLOSE, closes)

    def _username(self, expert: Practitioner) -> str:
        return expert.code.lower()


def create(session: Session, settings: Settings, *, password: str) -> DemoConsultations:
    """Load a year of demo consultations; what was made."""
    maker = _Maker(session, settings)
    made = DemoConsultations()
    doctor = maker.doctor = users.get_by_username(session, username="huailai.doctor")
    # The demo logins were just made with this password: their hash serves (argon2 is slow).
    password_hash = doctor.password_hash if doctor is not None else hash_password(password)
    places = {code: registry.institution_by_code_or_raise(session, code=code)
              for p in PARTNERSHIPS for code in (p.requester, p.consulted)}
    made.accounts += _coordinators(session, maker, [places[p.consulted] for p in PARTNERSHIPS],
                                   password_hash)
    for partnership in PARTNERSHIPS:
        requester, consulted = places[partnership.requester], places[partnership.consulted]
        people = maker.people_at(requester)
        if not people:
            continue
        staff, local_staff = maker.staff_of(consulted), maker.staff_of(requester)
        here = doctor if doctor is not None and doctor.institution_id == requester.id else None
        # Spread over the year, and a few in the last week (those are still open).
        recent = max(2, partnership.per_year // RECENT_SHARE)
        days = sorted([maker.rng.randint(0, 364) for _ in range(partnership.per_year - recent)]
                      + [maker.rng.randint(0, 6) for _ in range(recent)], reverse=True)
        for days_back in days:
            maker.plan(partnership, requester, consulted, staff, local_staff, people, here,
                       requested=maker.requested_at(days_back))
    # A few requests still waiting past their deadline today, from the Huailai campus.
    huailai = PARTNERSHIPS[0]
    campus, beijing = places[huailai.requester], places[huailai.consulted]
    for index in range(OVERDUE):
        maker.plan(huailai, campus, beijing, maker.staff_of(beijing), [],
                   maker.people_at(campus), None, overdue=True,
                   requested=maker.now - timedelta(days=3, hours=1 + index))
    made.accounts += _expert_accounts(session, maker, password_hash)
    made.follow_up_referrals = _follow_ups(session, settings, maker, places)
    made.consultations = _insert(session, maker)
    _share_open(session, settings, maker)
    return made


def _coordinators(session: Session, maker: _Maker, consulted: list[Institution],
                  password_hash: str) -> int:
    """Each consulted hospital's coordinator (its remote medicine centre's administrator)."""
    hospitals = list({i.id: i for i in consulted}.values())
    rows = [{"username": f"{i.code.lower()}.telemed", "display_name": f"{i.name}远程医学中心",
             "password_hash": password_hash, "role": Role.HOSPITAL_ADMIN,
             "institution_id": i.id, "practitioner_id": None, "person_id": None,
             "is_active": True, "token_version": 0, "created_at": maker.now}
            for i in hospitals]
    ids = list(session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True),
                               rows))
    for hospital, user_id in zip(hospitals, ids, strict=True):
        maker.coordinators[hospital.id] = session.get_one(User, user_id)
    return len(rows)


def _expert_accounts(session: Session, maker: _Maker, password_hash: str) -> int:
    """An account per expert the demo assigned (their signatures and attendance name it):
    the username is the practitioner's code, in lower case."""
    experts = sorted(maker.experts_used.values(), key=lambda p: p.id)
    rows = [{"username": maker._username(p), "display_name": p.name,
             "password_hash": password_hash, "role": Role.CLINICIAN,
             "institution_id": p.institution_id, "practitioner_id": p.id, "person_id": None,
             "is_active": True, "token_version": 0, "created_at": maker.now}
            for p in experts]
    if rows:
        session.execute(insert(User), rows)
    return len(rows)


def _follow_ups(session: Session, settings: Settings, maker: _Maker,
                places: dict[str, Institution]) -> int:
    """The referrals the requesters started from the reports that recommend one."""
    codes = {i.id: i.code for i in places.values()}
    departments: dict[int, str] = {}
    wanted = [p for p in maker.planned if p.follow_up is not None]
    asks = []
    for planned in wanted:
        assert planned.follow_up is not None
        department_id = planned.row["target_department_id"]
        if department_id not in departments:
            department = registry.get_department_or_raise(session, department_id=department_id)
            departments[department_id] = department.code
        asks.append(replace(planned.follow_up,
                            origin_code=codes[planned.row["requesting_institution_id"]],
                            target_code=codes[planned.row["target_institution_id"]],
                            department_code=departments[department_id]))
    for planned, referral_id in zip(wanted, referrals_demo.create_follow_ups(
            session, settings, asks), strict=True):
        planned.row["follow_up_referral_id"] = referral_id
    return len(asks)


def _insert(session: Session, maker: _Maker) -> int:
    """The consultations and everything hanging off them, one statement per table."""
    planned = maker.planned
    if not planned:
        return 0
    ids = list(session.scalars(
        insert(Consultation).returning(Consultation.id, sort_by_parameter_order=True),
        [p.row for p in planned]))
    accounts = {user.practitioner_id: user for user in session.scalars(
        select(User).where(User.practitioner_id.in_(maker.experts_used)))}
    patients, experts, events, attendance, report_rows = [], [], [], [], []
    for cid, plan in zip(ids, planned, strict=True):
        row = plan.row
        requester_id, target_id = row["requesting_institution_id"], row["target_institution_id"]
        patients += [{"consultation_id": cid, "person_id": pid, "position": position,
                      "summary": ""} for position, pid in enumerate(plan.people)]
        coordinator = maker.coordinators[target_id]
        experts += [{"consultation_id": cid, "practitioner_id": e.id,
                     "assigned_by": coordinator.username, "assigned_at": row["responded_at"]}
                    for e in plan.experts]
        status = S.REQUESTED
        # The timeline in time order (an amendment may come after the referral); the
        # transitions keep their order, which next_status checks again.
        for action, at, reason, note in sorted(plan.steps, key=lambda step: step[1]):
            before = status
            on_target = action not in ("created", A.CANCEL, "referred")
            if isinstance(action, A):
                status = next_status(status, action)
            events.append({
                "consultation_id": cid, "action": str(action),
                "from_status": before.value if isinstance(action, A) else "",
                "to_status": status.value if isinstance(action, A) or action == "created"
                else "",
                "actor": ACTOR, "actor_user_id": None,
                "actor_institution_id": None if action == "escalated"
                else target_id if on_target else requester_id,
                "reason": reason, "note": note, "at": at,
            })
        for expert, at in plan.attendance:
            # An expert, or else the requesting clinician (the demo's Huailai doctor).
            user = accounts[expert.id] if expert is not None else maker.doctor
            if user is None:
                continue
            attendance.append({
                "consultation_id": cid, "user_id": user.id, "username": user.username,
                "institution_id": user.institution_id,
                "practitioner_id": expert.id if expert is not None else None,
                "recorded_by": user.username, "joined_at": at})
        if plan.report is not None:
            report_rows.append((cid, plan))
    session.execute(insert(ConsultationPatient), patients)
    if experts:
        session.execute(insert(ConsultationExpert), experts)
    session.execute(insert(ConsultationEvent), events)
    if attendance:
        session.execute(insert(ConsultationAttendance), attendance)
    _insert_reports(session, report_rows, accounts)
    return len(ids)


def _insert_reports(session: Session, rows: list[tuple[int, _Planned]],
                    accounts: dict[int | None, User]) -> None:
    if not rows:
        return
    report_ids = list(session.scalars(
        insert(ConsultationReport).returning(ConsultationReport.id,
                                             sort_by_parameter_order=True),
        [{"consultation_id": cid, **(plan.report or {})} for cid, plan in rows]))
    signatures, amendments = [], []
    for report_id, (_, plan) in zip(report_ids, rows, strict=True):
        digest = (plan.report or {})["content_sha256"]
        signatures += [{"report_id": report_id, "practitioner_id": expert.id,
                        "user_id": accounts[expert.id].id,
                        "signer": accounts[expert.id].username, "content_sha256": digest,
                        "signed_at": at} for expert, at in plan.signed]
        if plan.amendment is not None:
            author = accounts[plan.experts[0].id]
            amendments.append({"report_id": report_id, "text": plan.amendment[0],
                               "author": author.username, "author_user_id": author.id,
                               "at": plan.amendment[1]})
    session.execute(insert(ReportSignature), signatures)
    if amendments:
        session.execute(insert(ConsultationAmendment), amendments)


def _share_open(session: Session, settings: Settings, maker: _Maker) -> None:
    """The consulted hospital sees the patients of the open consultations, as requesting
    shares them (and ending revokes the share: the ended ones hold none)."""
    open_ids = list(session.scalars(select(Consultation.id).where(
        Consultation.status.in_(OPEN)).order_by(Consultation.id)))
    for consultation_id in open_ids:
        consultation = session.get_one(Consultation, consultation_id)
        sharing.share_records(session, settings, consultation=consultation)
