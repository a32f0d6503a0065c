"""The places, hospitals, departments and agreements of the demo network.

Everything is read from the curated CSV tables of this package and created through the
registry service, so every registry rule (region nesting, campus parents, trusteeship
parties, department codes) applies to the demo exactly as to real data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from yilian.demo import tables
from yilian.registry import agreements as agreement_service
from yilian.registry import service as registry
from yilian.registry.models import (
    AgreementStatus,
    AgreementType,
    Department,
    EmergencyCentre,
    Institution,
    InstitutionGrade,
    InstitutionKind,
    PartyRole,
    RegionLevel,
)
from yilian.registry.schemas import (
    AgreementCreate,
    AgreementPartyIn,
    DepartmentCreate,
    InstitutionCreate,
    RegionCreate,
)


@dataclass
class Network:
    """What has been built so far, by code, for the steps that follow."""

    institutions: dict[str, Institution] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)  # institution code → department profile
    staffing: dict[str, str] = field(default_factory=dict)  # institution code → deep | full | none
    departments: dict[str, dict[str, Department]] = field(default_factory=dict)

    def department(self, institution_code: str, code: str) -> Department | None:
        """An institution's department by code, if it has one."""
        return self.departments.get(institution_code, {}).get(code)

    def department_for(self, institution_code: str, specialty: str) -> Department | None:
        """The institution's first department of a specialty, if any."""
        return next(
            (
                department
                for department in self.departments.get(institution_code, {}).values()
                if department.specialty == specialty
            ),
            None,
        )


def share_beds(total: int, weights: list[int]) -> list[int]:
    """Split an institution's beds over its departments in proportion to template weights."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [0] * len(weights)
    return [round(weight * total / weight_sum) for weight in weights]


def create_regions(session: Session) -> int:
    """The GB/T 2260 divisions the network sits in; ones already present are kept."""
    created = 0
    for row in tables.read("regions.csv"):
        if registry.get_region(session, code=row["code"]) is not None:
            continue
        registry.create_region(
            session,
            data=RegionCreate(
                code=row["code"],
                name=row["name"],
                name_en=row["name_en"],
                level=RegionLevel(row["level"]),
                parent_code=tables.optional(row, "parent_code"),
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
            ),
        )
        created += 1
    return created


def create_institutions(session: Session, network: Network) -> int:
    """Every hospital, health centre and clinic (parents are listed before their campuses)."""
    for row in tables.read("institutions.csv"):
        institution = registry.create_institution(
            session,
            data=InstitutionCreate(
                code=row["code"],
                name=row["name"],
                name_en=row["name_en"],
                region_code=row["region_code"],
                level=int(row["level"]),
                grade=InstitutionGrade(row["grade"]),
                kind=InstitutionKind(row["kind"]),
                parent_code=tables.optional(row, "parent_code"),
                beds=int(row["beds"]),
                address=row["address"],
                centres=[EmergencyCentre(centre) for centre in tables.split(row, "centres")],
            ),
        )
        network.institutions[institution.code] = institution
        network.profiles[institution.code] = row["profile"]
        network.staffing[institution.code] = row["staffing"]
    return len(network.institutions)


def create_departments(session: Session, network: Network) -> int:
    """Each institution's departments, from the template of its profile, beds shared out."""
    templates = dict(tables.grouped(tables.read("departments.csv"), "profile"))
    created = 0
    for code, institution in network.institutions.items():
        template = templates[network.profiles[code]]
        beds = share_beds(institution.beds, [int(row["beds"]) for row in template])
        made = network.departments.setdefault(code, {})
        for row, department_beds in zip(template, beds, strict=True):
            made[row["code"]] = registry.create_department(
                session,
                institution=institution,
                data=DepartmentCreate(
                    code=row["code"],
                    name=row["name"],
                    name_en=row["name_en"],
                    specialty=row["specialty"],
                    beds=department_beds,
                ),
            )
            created += 1
    return created


def create_agreements(session: Session) -> Counter[AgreementType]:
    """The curated agreements with their parties, counted by type."""
    parties = dict(tables.grouped(tables.read("agreement_parties.csv"), "agreement_code"))
    created: Counter[AgreementType] = Counter()
    for row in tables.read("agreements.csv"):
        agreement = agreement_service.create_agreement(
            session,
            data=AgreementCreate(
                code=row["code"],
                type=AgreementType(row["type"]),
                title=row["title"],
                title_en=row["title_en"],
                specialty=row["specialty"],
                status=AgreementStatus(row["status"]),
                start_date=date.fromisoformat(row["start_date"]),
                end_date=tables.optional_date(row, "end_date"),
                description=row["description"],
                parties=[
                    AgreementPartyIn(
                        institution_code=party["institution_code"],
                        role=PartyRole(party["role"]),
                        department_code=tables.optional(party, "department_code"),
                    )
                    for party in parties.get(row["code"], [])
                ],
            ),
        )
        created[agreement.type] += 1
    return created


def create_new_techniques(session: Session, network: Network) -> int:
    """New techniques 新技术新项目 a partner brought to a hospital, one agreement each."""
    created = 0
    for row in tables.read("new_techniques.csv"):
        code = row["department_code"]
        member_department = network.department(row["member_code"], code)
        lead_department = network.department(row["lead_code"], code)
        agreement_service.create_agreement(
            session,
            data=AgreementCreate(
                code=row["code"],
                type=AgreementType.NEW_TECHNIQUE,
                title=row["title"],
                title_en=row["title_en"],
                specialty=member_department.specialty if member_department else "",
                status=AgreementStatus(row["status"]),
                start_date=date.fromisoformat(row["start_date"]),
                parties=[
                    AgreementPartyIn(
                        institution_code=row["lead_code"],
                        role=PartyRole.LEAD,
                        department_code=code if lead_department else None,
                    ),
                    AgreementPartyIn(
                        institution_code=row["member_code"],
                        role=PartyRole.MEMBER,
                        department_code=code if member_department else None,
                    ),
                ],
            ),
        )
        created += 1
    return created
