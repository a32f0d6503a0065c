"""One demo account per role, created through the real user service."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.auth.security import verify_password
from yilian.demo import patients as demo_patients
from yilian.demo.report import DemoLogin
from yilian.registry import service as registry

HUAILAI_CAMPUS = "PKUPH-HL"
PKU_PEOPLES = "PKUPH"


@dataclass(frozen=True)
class DemoAccount:
    """A login the demo creates."""

    username: str
    role: Role
    institution_code: str | None
    display_name: str


DEMO_ACCOUNTS = (
    DemoAccount("admin", Role.PLATFORM_ADMIN, None, "平台管理员"),
    DemoAccount("analyst", Role.COMMISSION_ANALYST, None, "卫健委分析员"),
    DemoAccount("huailai.admin", Role.HOSPITAL_ADMIN, HUAILAI_CAMPUS, "怀来院区医务科"),
    DemoAccount("huailai.doctor", Role.CLINICIAN, HUAILAI_CAMPUS, "怀来院区心血管内科医生"),
    DemoAccount("pkuph.doctor", Role.CLINICIAN, PKU_PEOPLES, "北京大学人民医院心血管内科医生"),
    DemoAccount("huailai.clerk", Role.INSURANCE_CLERK, HUAILAI_CAMPUS, "怀来院区医保结算员"),
    DemoAccount("huailai.patient", Role.PATIENT, HUAILAI_CAMPUS, "宋女士（演示患者）"),
)


def ensure_accounts(session: Session, *, password: str) -> tuple[list[DemoLogin], bool]:
    """Create the demo accounts that are missing; existing ones are left as they are.

    Returns the logins and whether ``password`` opens them. Accounts made by an earlier load
    share that load's password, so one argon2 check (on the first of them) answers for all.
    """
    logins = []
    password_opens = True
    checked = False
    for account in DEMO_ACCOUNTS:
        user = users.get_by_username(session, username=account.username)
        created = user is None
        if user is None:
            user = users.create(
                session, username=account.username, password=password, role=account.role,
                institution_code=account.institution_code, display_name=account.display_name,
            )
        elif not checked:
            password_opens = verify_password(password, user.password_hash)
            checked = True
        if account.role is Role.PATIENT and user.person_id is None:
            song = demo_patients.song(session)
            if song is not None:
                users.link_patient(session, user=user, person_id=song.id)
        institution = (
            registry.get_institution_by_code(session, code=account.institution_code)
            if account.institution_code
            else None
        )
        logins.append(
            DemoLogin(
                username=user.username,
                role=user.role,
                institution_code=institution.code if institution else None,
                institution_name=institution.name if institution else "",
                created=created,
            )
        )
    return logins, password_opens
