"""Counts over the registry for overview pages: the network at a glance.

Aggregation happens in SQL (one GROUP BY per figure), so the home pages stay cheap on a
network of thousands of institutions. Regions are grouped by province, the first two
digits of the GB/T 2260 code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from yilian.registry.models import (
    Agreement,
    AgreementParty,
    AgreementStatus,
    AgreementType,
    Department,
    Institution,
    Practitioner,
    Region,
)


@dataclass(frozen=True)
class NetworkCounts:
    """How big the network is."""

    institutions: int
    institutions_by_level: dict[int, int]
    beds: int
    departments: int
    practitioners: int
    agreements: int
    active_agreements: int


@dataclass(frozen=True)
class ProvinceCounts:
    """The network's footprint in one province (or province-level city)."""

    region: Region
    institutions: int = 0
    tertiary_institutions: int = 0
    agreements: int = 0  # agreements with at least one party in the province
    agreements_by_type: dict[AgreementType, int] = field(default_factory=dict)


def _province_code(prefix: str) -> str:
    return f"{prefix}0000"


def network_counts(session: Session) -> NetworkCounts:
    """Institutions, beds, departments, practitioners and agreements in the whole network."""
    by_level = {
        int(level): count
        for level, count in session.execute(
            select(Institution.level, func.count()).group_by(Institution.level)
        ).all()
    }
    by_status = {
        AgreementStatus(status): count
        for status, count in session.execute(
            select(Agreement.status, func.count()).group_by(Agreement.status)
        ).all()
    }
    return NetworkCounts(
        institutions=sum(by_level.values()),
        institutions_by_level=by_level,
        beds=session.scalar(select(func.coalesce(func.sum(Institution.beds), 0))) or 0,
        departments=session.scalar(select(func.count()).select_from(Department)) or 0,
        practitioners=session.scalar(select(func.count()).select_from(Practitioner)) or 0,
        agreements=sum(by_status.values()),
        active_agreements=by_status.get(AgreementStatus.ACTIVE, 0),
    )


def agreements_by_type(session: Session, *, active_only: bool = False) -> dict[AgreementType, int]:
    """Number of agreements of each type (every type present, zero when none)."""
    statement = select(Agreement.type, func.count()).group_by(Agreement.type)
    if active_only:
        statement = statement.where(Agreement.status == AgreementStatus.ACTIVE)
    found = {AgreementType(kind): count for kind, count in session.execute(statement).all()}
    return {kind: found.get(kind, 0) for kind in AgreementType}


def counts_by_province(session: Session) -> list[ProvinceCounts]:
    """Institutions and agreements per province where the network has institutions."""
    province = func.substr(Institution.region_code, 1, 2)
    institutions = {
        prefix: (total, tertiary or 0)
        for prefix, total, tertiary in session.execute(
            select(
                province,
                func.count(),
                func.sum(case((Institution.level == 3, 1), else_=0)),
            ).group_by(province)
        ).all()
    }
    typed = session.execute(
        select(province, Agreement.type, func.count(func.distinct(Agreement.id)))
        .join(AgreementParty, AgreementParty.institution_id == Institution.id)
        .join(Agreement, Agreement.id == AgreementParty.agreement_id)
        .group_by(province, Agreement.type)
    ).all()
    by_type: dict[str, dict[AgreementType, int]] = {}
    for prefix, kind, count in typed:
        by_type.setdefault(prefix, {})[AgreementType(kind)] = count
    agreement_totals: dict[str, int] = {
        prefix: count
        for prefix, count in session.execute(
            select(province, func.count(func.distinct(Agreement.id)))
            .join(AgreementParty, AgreementParty.institution_id == Institution.id)
            .join(Agreement, Agreement.id == AgreementParty.agreement_id)
            .group_by(province)
        ).all()
    }
    regions = {
        region.code: region
        for region in session.scalars(
            select(Region).where(Region.code.in_([_province_code(p) for p in institutions]))
        )
    }
    rows = []
    for prefix in sorted(institutions):
        region = regions.get(_province_code(prefix))
        if region is None:  # an institution whose province is not registered: skip
            continue
        total, tertiary = institutions[prefix]
        rows.append(
            ProvinceCounts(
                region=region,
                institutions=total,
                tertiary_institutions=int(tertiary),
                agreements=agreement_totals.get(prefix, 0),
                agreements_by_type=by_type.get(prefix, {}),
            )
        )
    return rows
