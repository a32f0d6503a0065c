"""Create-or-update by code: the registry rules behind bulk imports (CSV files).

A record is named by its code: an unknown code creates it, a known one updates it in place,
and a record already equal to what is given is left alone, so re-importing an export
changes nothing and writes no audit record. Only the fields the caller names are compared
and changed (a CSV file may leave optional columns out). The create and update rules
themselves are those of :mod:`yilian.registry.service`. Functions flush, never commit.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from yilian.registry import agreements as agreement_service
from yilian.registry import service as registry
from yilian.registry.models import Agreement, AgreementParty, Institution, PartyRole
from yilian.registry.schemas import (
    AgreementCreate,
    AgreementPartyIn,
    AgreementUpdate,
    InstitutionCreate,
    InstitutionUpdate,
)

__all__ = [
    "AGREEMENT_TERMS",
    "PartyKey",
    "UpsertOutcome",
    "agreement_values",
    "institution_values",
    "upsert_agreement",
    "upsert_institution",
]

# An agreement party as a comparable value: (institution code, role, department code).
PartyKey = tuple[str, PartyRole, str | None]

# Fields of an agreement that AgreementUpdate may change (type and parties are handled apart).
AGREEMENT_TERMS = frozenset(
    {"title", "title_en", "specialty", "status", "start_date", "end_date", "description"}
)


class UpsertOutcome(enum.StrEnum):
    """What an upsert did to the stored record."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def institution_values(institution: Institution) -> dict[str, Any]:
    """A stored institution as the field values of an :class:`InstitutionCreate`."""
    return {
        "code": institution.code,
        "name": institution.name,
        "name_en": institution.name_en,
        "region_code": institution.region_code,
        "level": institution.level,
        "grade": institution.grade,
        "kind": institution.kind,
        "parent_code": institution.parent.code if institution.parent is not None else None,
        "beds": institution.beds,
        "address": institution.address,
        "phone": institution.phone,
        "centres": sorted(institution.centre_kinds),
    }


def upsert_institution(
    session: Session, *, data: InstitutionCreate, fields: Collection[str]
) -> UpsertOutcome:
    """Register the institution, or bring the named ``fields`` of the stored one up to date."""
    institution = registry.get_institution_by_code(session, code=data.code)
    if institution is None:
        registry.create_institution(session, data=data)
        return UpsertOutcome.CREATED
    stored = institution_values(institution)
    wanted = data.model_dump(include=set(fields) - {"code"})
    changes = {field: value for field, value in wanted.items() if stored[field] != value}
    if not changes:
        return UpsertOutcome.UNCHANGED
    registry.update_institution(
        session, institution=institution, data=InstitutionUpdate.model_validate(changes)
    )
    return UpsertOutcome.UPDATED


def _party_order(party: PartyKey) -> tuple[str, str, str]:
    return (party[1].value, party[0], party[2] or "")


def agreement_values(agreement: Agreement) -> dict[str, Any]:
    """A stored agreement as the field values of an :class:`AgreementCreate`."""
    parties: list[PartyKey] = [
        (
            party.institution.code,
            party.role,
            party.department.code if party.department is not None else None,
        )
        for party in agreement.parties
    ]
    return {
        "code": agreement.code,
        "type": agreement.type,
        "title": agreement.title,
        "title_en": agreement.title_en,
        "specialty": agreement.specialty,
        "status": agreement.status,
        "start_date": agreement.start_date,
        "end_date": agreement.end_date,
        "description": agreement.description,
        "parties": sorted(parties, key=_party_order),
    }


def _party_keys(parties: list[AgreementPartyIn]) -> list[PartyKey]:
    return sorted(
        ((party.institution_code, party.role, party.department_code) for party in parties),
        key=_party_order,
    )


def _replace_parties(agreement: Agreement, parties: list[AgreementParty]) -> None:
    """Make ``parties`` the agreement's parties, keeping rows of institutions that stay."""
    current = {party.institution_id: party for party in agreement.parties}
    merged: list[AgreementParty] = []
    for party in parties:
        kept = current.get(party.institution_id)
        if kept is None:
            merged.append(party)
            continue
        kept.role = party.role
        kept.department_id = party.department_id
        merged.append(kept)
    agreement.parties = merged


def upsert_agreement(
    session: Session, *, data: AgreementCreate, fields: Collection[str]
) -> UpsertOutcome:
    """Record the agreement, or bring the named ``fields`` of the stored one up to date.

    Type and parties are always compared: a row without them does not say what the
    agreement is. A change of either is checked by the same party rules as a new agreement
    (a lead; a trusteeship binds exactly one lead and one member).
    """
    agreement = agreement_service.get_agreement_by_code(session, code=data.code)
    if agreement is None:
        agreement_service.create_agreement(session, data=data)
        return UpsertOutcome.CREATED
    stored = agreement_values(agreement)
    wanted = data.model_dump(include=(set(fields) & AGREEMENT_TERMS) | {"type"})
    wanted["parties"] = _party_keys(data.parties)
    changes = {field: value for field, value in wanted.items() if stored[field] != value}
    if not changes:
        return UpsertOutcome.UNCHANGED
    terms = {field: value for field, value in changes.items() if field in AGREEMENT_TERMS}
    if terms:
        agreement_service.update_agreement(
            session, agreement=agreement, data=AgreementUpdate.model_validate(terms)
        )
    if "type" in changes or "parties" in changes:
        parties = agreement_service.resolve_parties(session, data=data)
        agreement.type = data.type
        _replace_parties(agreement, parties)
        session.flush()
    return UpsertOutcome.UPDATED
