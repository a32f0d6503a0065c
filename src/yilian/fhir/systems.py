"""URIs of the identifier systems and code systems the facade emits.

Yilian-defined systems hang under one canonical base, so a deployment that registers its
own domain changes a single constant. Systems defined by HL7 or DICOM are spelled here
once, beside ours, so mapping modules never carry bare URLs.
"""

from __future__ import annotations

# Canonical base of Yilian-defined NamingSystems (sid/…) and CodeSystems (CodeSystem/…).
CANONICAL_BASE = "https://yilian.example.org/fhir"

# ---------------------------------------------------------------- identifier systems
INSTITUTION_CODE = f"{CANONICAL_BASE}/sid/institution-code"
# A department code is unique within its institution: the value is "<institution>/<dept>".
DEPARTMENT_CODE = f"{CANONICAL_BASE}/sid/department-code"
PRACTITIONER_CODE = f"{CANONICAL_BASE}/sid/practitioner-code"
# 医师执业证书编码: the national practising-certificate number (no HL7 China URI yet).
PRACTITIONER_LICENCE = f"{CANONICAL_BASE}/sid/practitioner-licence"
USERNAME = f"{CANONICAL_BASE}/sid/username"
# Records of tables that have no FHIR resource: the value is "<table>/<primary key>".
RECORD = f"{CANONICAL_BASE}/sid/record"

# ---------------------------------------------------------------- Yilian code systems
INSTITUTION_KIND = f"{CANONICAL_BASE}/CodeSystem/institution-kind"
INSTITUTION_LEVEL = f"{CANONICAL_BASE}/CodeSystem/institution-level"  # 医院等级 1/2/3
INSTITUTION_GRADE = f"{CANONICAL_BASE}/CodeSystem/institution-grade"  # 甲/乙/丙/未定
SPECIALTY = f"{CANONICAL_BASE}/CodeSystem/specialty"
PRACTITIONER_TITLE = f"{CANONICAL_BASE}/CodeSystem/practitioner-title"  # 职称
PRACTITIONER_ROLE = f"{CANONICAL_BASE}/CodeSystem/practitioner-role"
USER_ROLE = f"{CANONICAL_BASE}/CodeSystem/user-role"
AUDIT_ACTION = f"{CANONICAL_BASE}/CodeSystem/audit-action"
AUDIT_ENTITY_TYPE = f"{CANONICAL_BASE}/CodeSystem/audit-entity-type"

# ---------------------------------------------------------------- HL7 / DICOM systems
HL7_ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
HL7_LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
HL7_AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
HL7_AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
HL7_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
HL7_SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
HL7_RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
