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
# An institution's own patient numbers 患者号: one system per institution, named by its code
# (see institution_patient_system); the value is the local patient number.
PATIENT_NUMBER_BASE = f"{CANONICAL_BASE}/sid/patient-number/"
# 居民身份证号: the OID China's national health information standards give the resident ID.
RESIDENT_ID = "urn:oid:2.16.156.10011.1.1"

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

# ---------------------------------------------------------------- Yilian extensions
# Patient: the region 参保地 (GB/T 2260 code) and scheme (employee | resident) of the
# patient's basic medical insurance, as the registering institution recorded them.
INSURED_REGION = f"{CANONICAL_BASE}/StructureDefinition/insured-region"
INSURANCE_SCHEME = f"{CANONICAL_BASE}/StructureDefinition/insurance-scheme"

# ---------------------------------------------------------------- HL7 / DICOM systems
HL7_ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
HL7_LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
HL7_AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
HL7_AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
HL7_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
HL7_SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
HL7_RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
HL7_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
HL7_ADMINISTRATIVE_GENDER = "http://hl7.org/fhir/administrative-gender"
HL7_NAME_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
HL7_MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
HL7_PATIENT_MATCH = "http://hl7.org/fhir/OperationDefinition/Patient-match"


def institution_patient_system(institution_code: str) -> str:
    """The identifier system of an institution's patient numbers (``…/patient-number/PKUPH``)."""
    return f"{PATIENT_NUMBER_BASE}{institution_code}"


def institution_code_of(system: str) -> str | None:
    """The institution code a patient-number system names, or None for any other system."""
    if not system.startswith(PATIENT_NUMBER_BASE):
        return None
    code = system[len(PATIENT_NUMBER_BASE):]
    return code if code and "/" not in code else None
