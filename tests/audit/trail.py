"""An audit trail across three institutions, for the audit API and AuditEvent tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_department, make_institution, make_user
from yilian.audit import service as audit
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role
from yilian.registry.models import Department, Institution


@dataclass
class Trail:
    """Who may read what, and three events whose visibility the tests check."""

    pkuph: Institution
    huailai: Institution  # campus of PKUPH: PKUPH's administrator reads its events
    baoding: Institution
    huailai_cardiology: Department
    patient_read: AuditEvent  # Baoding doctor read patient 42's record at Baoding
    campus_update: AuditEvent  # PKUPH administrator changed a Huailai department
    refused_update: AuditEvent  # an institution change at PKUPH, denied
    client: TestClient = field(repr=False)

    # Signing in hashes a password: each user signs in only when a test needs them.
    @cached_property
    def root(self) -> dict[str, str]:
        """Headers of the platform administrator."""
        return bearer(self.client, "root")

    @cached_property
    def pkuph_admin(self) -> dict[str, str]:
        """Headers of PKUPH's administrator (who also runs the Huailai campus)."""
        return bearer(self.client, "pk_admin")

    @cached_property
    def baoding_admin(self) -> dict[str, str]:
        """Headers of the Baoding hospital's administrator."""
        return bearer(self.client, "bd_admin")

    @cached_property
    def baoding_doctor(self) -> dict[str, str]:
        """Headers of a Baoding clinician: may not read the trail."""
        return bearer(self.client, "bd_doctor")


def build_trail(client: TestClient, session: Session) -> Trail:
    """Institutions, users and three hand-written events."""
    pkuph = make_institution(session, code="PKUPH", name="北京大学人民医院", region_code="110102")
    huailai = make_institution(session, code="PKUPH-HL", name="北京大学人民医院怀来院区",
                               parent_code="PKUPH")
    baoding = make_institution(session, code="BCH-BD", name="北京儿童医院保定医院",
                               region_code="130602")
    cardiology = make_department(session, huailai)
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    pk_admin = make_user(session, role=Role.HOSPITAL_ADMIN, institution=pkuph, username="pk_admin")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=baoding, username="bd_admin")
    doctor = make_user(session, role=Role.CLINICIAN, institution=baoding, username="bd_doctor")
    session.commit()

    audit.bind(session, audit.AuditContext(
        actor="bd_doctor", actor_user_id=doctor.id, actor_role="clinician",
        actor_institution_id=baoding.id, client_ip="10.6.0.8", request_id="req-read",
    ))
    audit.record(session, action="patient.read", entity_type="patient",
                                entity_id="42", institution_id=baoding.id, patient_id=42)
    audit.bind(session, audit.AuditContext(
        actor="pk_admin", actor_user_id=pk_admin.id, actor_role="hospital_admin",
        actor_institution_id=pkuph.id, client_ip="10.1.0.2",
    ))
    audit.record(
        session, action="department.update", entity_type="department",
        entity_id=str(cardiology.id), institution_id=huailai.id, detail={"fields": ["beds"]},
    )
    audit.bind(session, audit.AuditContext(actor="stranger", actor_role="clinician"))
    audit.record(
        session, action="registry.institution.update", outcome=AuditOutcome.DENIED,
        entity_type="request", entity_id=f"/api/v1/institutions/{pkuph.id}",
        institution_id=pkuph.id, detail={"code": "forbidden"},
    )
    session.commit()  # the records are written together, at commit

    def written(action: str) -> AuditEvent:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)).one()

    return Trail(pkuph, huailai, baoding, cardiology, written("patient.read"),
                 written("department.update"), written("registry.institution.update"), client)
