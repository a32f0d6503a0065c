"""A person's insurance: from the coverage row when a clerk recorded one, else from the patient
index (``PatientRecord.insured_region_code`` and ``insurance_scheme``); and the filing status
that counts for care at a given place and date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
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


def insurance_of(session: Session, *, person_id: int) -> Insurance:
    """The person's insurance; 422 when neither coverage nor patient index names one."""
    row = get(session, person_id=person_id)
    if row is not None:
        return Insurance(row.person_id, row.insured_region_code, row.scheme, row.card_number,
                         row.filing, row.filed_region_code, row.assistance)
    record = session.scalars(
        select(PatientRecord)
        .where(PatientRecord.person_id == person_id,
               PatientRecord.insured_region_code.is_not(None),
               PatientRecord.insurance_scheme.is_not(None))
        .order_by(PatientRecord.updated_at.desc(), PatientRecord.id.desc())
    ).first()
    if record is None or record.insured_region_code is None or record.insurance_scheme is None:
        raise InvalidInput("no_coverage", "患者未登记参保地和险种，无法结算",
                           "The patient has no insured region and scheme on record")
    return Insurance(person_id, record.insured_region_code, record.insurance_scheme)


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
