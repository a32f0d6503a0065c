"""A person's insurance: from the coverage row when a clerk recorded one, else from the patient
index (``PatientRecord.insured_region_code`` and ``insurance_scheme``); and the filing status
that counts for care at a given place and date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from yilian.errors import InvalidInput
from yilian.patients.models import InsuranceScheme, PatientRecord
from yilian.settlement.engine import (
    JING_JIN_JI_FILED_SINCE,
    AssistanceCategory,
    Filing,
    is_jing_jin_ji,
    region_prefix,
)
from yilian.settlement.models import Coverage


@dataclass(frozen=True)
class Insurance:
    """What settlement needs to know of a person's insurance."""

    person_id: int
    insured_region_code: str
    scheme: InsuranceScheme
    card_number: str = ""
    filing: Filing = Filing.NONE
    filed_region_code: str = ""
    assistance: AssistanceCategory = AssistanceCategory.NONE


def get(session: Session, *, person_id: int) -> Coverage | None:
    """The coverage a clerk recorded for the person, if any."""
    return session.scalars(select(Coverage).where(Coverage.person_id == person_id)).first()


def _insurance_statement() -> Select[Any]:
    """The coverage row if a clerk recorded one, else the newest patient-index record naming a
    region and scheme: one round trip, built once (a union ranked by where the row came from)."""
    person_id: BindParameter[int] = bindparam("person_id")
    recorded = select(
        literal(0).label("rank"), Coverage.insured_region_code.label("region"),
        Coverage.scheme.label("scheme"), Coverage.card_number.label("card_number"),
        Coverage.filing.label("filing"), Coverage.filed_region_code.label("filed_region"),
        Coverage.assistance.label("assistance"), Coverage.updated_at.label("at"),
        Coverage.id.label("row_id"),
    ).where(Coverage.person_id == person_id)
    indexed = select(
        literal(1), PatientRecord.insured_region_code, PatientRecord.insurance_scheme,
        literal(""), literal(Filing.NONE, type_=Coverage.filing.type), literal(""),
        literal(AssistanceCategory.NONE, type_=Coverage.assistance.type),
        PatientRecord.updated_at, PatientRecord.id,
    ).where(PatientRecord.person_id == person_id,
            PatientRecord.insured_region_code.is_not(None),
            PatientRecord.insurance_scheme.is_not(None))
    both = union_all(recorded, indexed).subquery()
    return (select(both).order_by(both.c.rank, both.c.at.desc(), both.c.row_id.desc())
            .limit(1))


_INSURANCE = _insurance_statement()


def insurance_of(session: Session, *, person_id: int) -> Insurance:
    """The person's insurance; 422 when neither coverage nor patient index names one."""
    row = session.execute(_INSURANCE, {"person_id": person_id}).first()
    if row is None:
        raise InvalidInput("no_coverage", "患者未登记参保地和险种，无法结算",
                           "The patient has no insured region and scheme on record")
    return Insurance(person_id, row.region, InsuranceScheme(row.scheme), row.card_number,
                     Filing(row.filing), row.filed_region, AssistanceCategory(row.assistance))


def set_coverage(
    session: Session,
    *,
    person_id: int,
    insured_region_code: str,
    scheme: InsuranceScheme,
    card_number: str = "",
    filing: Filing = Filing.NONE,
    filed_region_code: str = "",
    assistance: AssistanceCategory = AssistanceCategory.NONE,
) -> Coverage:
    """Record or change a person's coverage (the audit trail keeps every change)."""
    row = get(session, person_id=person_id) or Coverage(person_id=person_id)
    row.insured_region_code = insured_region_code
    row.scheme = scheme
    row.card_number = card_number
    row.filing = filing
    row.filed_region_code = filed_region_code
    row.assistance = assistance
    session.add(row)
    session.flush()
    return row


def jing_jin_ji_counts_as_filed(insured_region: str, treatment_region: str, on_date: date) -> bool:
    """Since 2023-04-01 the insured of Beijing, Tianjin and Hebei count as filed in the region."""
    return (on_date >= JING_JIN_JI_FILED_SINCE and is_jing_jin_ji(insured_region)
            and is_jing_jin_ji(treatment_region))


def effective_filing(
    insurance: Insurance, *, treatment_region: str, on_date: date, stated: Filing | None = None
) -> Filing:
    """The filing status that counts for this care: emergency counts as filed
    (医保发〔2022〕22号), Jing-Jin-Ji residents count as filed in the region, a filing holds
    where it was made; what the clerk states for this admission (a referral) comes first."""
    claimed = stated or insurance.filing
    if claimed is Filing.EMERGENCY:
        return Filing.FILED
    if jing_jin_ji_counts_as_filed(insurance.insured_region_code, treatment_region, on_date):
        return Filing.FILED
    if claimed is Filing.NONE or stated is not None:
        return claimed
    where = insurance.filed_region_code
    if not where or treatment_region.startswith(region_prefix(where)):
        return claimed
    return Filing.NONE
