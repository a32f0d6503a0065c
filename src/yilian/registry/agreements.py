"""Collaboration agreements: trusteeships, consortia, co-built departments and the rest.

Split from ``registry.service`` to keep modules small; the same rules apply (no HTTP,
flush never commit). Institutions and departments are found through ``registry.service``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.registry.models import (
    Agreement,
    AgreementParty,
    AgreementStatus,
    AgreementType,
    Institution,
    PartyRole,
)
from yilian.registry.schemas import AgreementCreate, AgreementUpdate
from yilian.registry.service import (
    apply_changes,
    department_by_code_or_raise,
    institution_by_code_or_raise,
    region_prefix,
)


@dataclass(frozen=True)
class AgreementFilter:
    """Ways to narrow the agreement list."""

    type: AgreementType | None = None
    status: AgreementStatus | None = None
    institution_id: int | None = None  # one of the parties
    region_code: str | None = None  # a party lies in this region
    active_on: date | None = None
    text: str | None = None


def _agreement_query(where: AgreementFilter) -> Select[Any]:
    statement = select(Agreement)
    if where.type is not None:
        statement = statement.where(Agreement.type == where.type)
    if where.status is not None:
        statement = statement.where(Agreement.status == where.status)
    if where.institution_id is not None:
        statement = statement.where(
            exists().where(
                AgreementParty.agreement_id == Agreement.id,
                AgreementParty.institution_id == where.institution_id,
            )
        )
    if where.region_code:
        statement = statement.where(
            exists().where(
                AgreementParty.agreement_id == Agreement.id,
                AgreementParty.institution_id == Institution.id,
                Institution.region_code.startswith(region_prefix(where.region_code)),
            )
        )
    if where.active_on is not None:
        statement = statement.where(
            Agreement.status == AgreementStatus.ACTIVE,
            Agreement.start_date <= where.active_on,
            or_(Agreement.end_date.is_(None), Agreement.end_date >= where.active_on),
        )
    if where.text:
        pattern = f"%{where.text.strip()}%"
        statement = statement.where(
            or_(
                Agreement.title.ilike(pattern),
                Agreement.title_en.ilike(pattern),
                Agreement.code.ilike(pattern),
            )
        )
    return statement


def list_agreements(
    session: Session, *, where: AgreementFilter, offset: int = 0, limit: int = 50
) -> tuple[Sequence[Agreement], int]:
    """Agreements matching the filter, newest first, with the total count."""
    statement = _agreement_query(where)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(Agreement.start_date.desc(), Agreement.code).offset(offset).limit(limit)
    ).all()
    return rows, total


@dataclass(frozen=True)
class AgreementStart:
    """When an agreement began, without its parties (what a baseline needs)."""

    agreement_id: int
    code: str
    type: AgreementType
    start_date: date


def agreement_starts(
    session: Session, *, institution_ids: Collection[int]
) -> dict[int, list[AgreementStart]]:
    """The agreements each institution is a party to, earliest first (one query of columns,
    no agreement objects: analytics asks it for every institution of a region at once)."""
    rows = session.execute(
        select(AgreementParty.institution_id, Agreement.id, Agreement.code, Agreement.type,
               Agreement.start_date)
        .join(Agreement, Agreement.id == AgreementParty.agreement_id)
        .where(AgreementParty.institution_id.in_(sorted(set(institution_ids))))
        .order_by(Agreement.start_date, Agreement.id)
    )
    found: dict[int, list[AgreementStart]] = {}
    for institution_id, agreement_id, code, kind, start in rows:
        found.setdefault(institution_id, []).append(AgreementStart(agreement_id, code, kind, start))
    return found


def led_members_by_lead(
    session: Session, *, institution_ids: Collection[int], on: date,
    types: Collection[AgreementType],
) -> dict[int, frozenset[int]]:
    """For each of these institutions, the institutions bound to it as members by an
    agreement of these types that it leads and that is in force on ``on`` (one query of
    ids for them all; no agreement objects)."""
    found: dict[int, set[int]] = {institution_id: set() for institution_id in institution_ids}
    rows = session.execute(_LED_MEMBERS, {"leads": sorted(found), "types": sorted(types),
                                          "on": on})
    for lead_id, member_id in rows:
        found[lead_id].add(member_id)
    return {institution_id: frozenset(ids) for institution_id, ids in found.items()}


def _led_members_statement() -> Select[int, int]:
    lead = aliased(AgreementParty)
    member = aliased(AgreementParty)
    on: BindParameter[date] = bindparam("on", type_=Agreement.start_date.type)
    return (
        select(lead.institution_id, member.institution_id)
        .join(Agreement, Agreement.id == member.agreement_id)
        .join(lead, lead.agreement_id == Agreement.id)
        .where(
            lead.institution_id.in_(bindparam("leads", expanding=True)),
            lead.role == PartyRole.LEAD,
            member.role == PartyRole.MEMBER,
            Agreement.type.in_(bindparam("types", expanding=True)),
            Agreement.status == AgreementStatus.ACTIVE,
            Agreement.start_date <= on,
            or_(Agreement.end_date.is_(None), Agreement.end_date >= on),
        )
    )


# Built once: every referral asks it of both its institutions.
_LED_MEMBERS = _led_members_statement()


def partner_ids(
    session: Session, *, institution_ids: Collection[int], on: date
) -> frozenset[int]:
    """Institutions bound by any agreement in force on ``on`` to one of these institutions
    (either side, any type): trusteeship leads, consortium and alliance partners."""
    if not institution_ids:
        return frozenset()
    mine = aliased(AgreementParty)
    other = aliased(AgreementParty)
    rows = session.scalars(
        select(other.institution_id).distinct()
        .join(Agreement, Agreement.id == other.agreement_id)
        .join(mine, mine.agreement_id == Agreement.id)
        .where(
            mine.institution_id.in_(sorted(institution_ids)),
            Agreement.status == AgreementStatus.ACTIVE,
            Agreement.start_date <= on,
            or_(Agreement.end_date.is_(None), Agreement.end_date >= on),
        )
    )
    return frozenset(rows)


def get_agreement_or_raise(session: Session, *, agreement_id: int) -> Agreement:
    """The agreement with this id, or 404."""
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound("协议", "Agreement", agreement_id)
    return agreement


def get_agreement_by_code(session: Session, *, code: str) -> Agreement | None:
    """The agreement with this code, if any."""
    return session.scalars(select(Agreement).where(Agreement.code == code)).first()


def check_party_roles(agreement_type: AgreementType, roles: list[PartyRole]) -> None:
    """Every agreement has a lead; a trusteeship binds exactly one lead and one member."""
    if PartyRole.LEAD not in roles:
        raise InvalidInput("no_lead_party", "协议须有一个牵头方", "An agreement needs a lead party")
    if agreement_type is AgreementType.TRUSTEESHIP and sorted(roles) != [
        PartyRole.LEAD,
        PartyRole.MEMBER,
    ]:
        raise InvalidInput(
            "trusteeship_parties",
            "托管协议须恰好一个托管方（牵头）和一个受托方（成员）",
            "A trusteeship binds exactly one lead (trustee) and one member (trusted hospital)",
        )


def resolve_parties(
    session: Session, *, data: AgreementCreate
) -> list[AgreementParty]:
    """The parties named by code, each institution once."""
    check_party_roles(data.type, [party.role for party in data.parties])
    parties: list[AgreementParty] = []
    seen: set[int] = set()
    for party in data.parties:
        institution = institution_by_code_or_raise(session, code=party.institution_code)
        if institution.id in seen:
            raise InvalidInput(
                "duplicate_party",
                f"同一机构重复列为协议方：{party.institution_code}",
                f"Institution listed twice: {party.institution_code}",
            )
        seen.add(institution.id)
        department_id = None
        if party.department_code:
            department_id = department_by_code_or_raise(
                session, institution_id=institution.id, code=party.department_code
            ).id
        parties.append(
            AgreementParty(institution_id=institution.id, role=party.role,
                           department_id=department_id)
        )
    return parties


def create_agreement(session: Session, *, data: AgreementCreate) -> Agreement:
    """Record a collaboration agreement and its parties."""
    if get_agreement_by_code(session, code=data.code) is not None:
        raise Conflict("agreement_exists", f"协议编号已存在：{data.code}",
                       f"Agreement code already exists: {data.code}")
    agreement = Agreement(**data.model_dump(exclude={"parties"}))
    agreement.parties = resolve_parties(session, data=data)
    session.add(agreement)
    session.flush()
    return agreement


def update_agreement(
    session: Session, *, agreement: Agreement, data: AgreementUpdate
) -> Agreement:
    """Change an agreement's terms or status (parties stay)."""
    changes = data.model_dump(exclude_unset=True)
    start = changes.get("start_date", agreement.start_date)
    end = changes.get("end_date", agreement.end_date)
    status = changes.get("status", agreement.status)
    if end is not None and start is not None and end < start:
        raise InvalidInput(
            "dates_unordered", "结束日期早于开始日期", "end_date is before start_date"
        )
    if status is AgreementStatus.ENDED and end is None:
        raise InvalidInput("ended_without_end_date", "已终止的协议须有结束日期",
                           "An ended agreement needs an end_date")
    apply_changes(agreement, changes, nullable=frozenset({"end_date"}))
    session.flush()
    return agreement


def party_institution_ids(agreement: Agreement) -> list[int]:
    """Ids of the institutions bound by the agreement."""
    return [party.institution_id for party in agreement.parties]
