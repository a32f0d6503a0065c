"""Registry records as FHIR R4 resources (pure mapping; queries live in ``registry_search``).

Logical ids, stable for integrators:

- ``Organization/{institution.id}`` — an institution; ``partOf`` is the institution whose
  campus it is (e.g. a county hospital run as a campus of a Beijing hospital).
- ``Organization/dept-{department.id}`` — a department; ``partOf`` is its institution.
- ``Location/{institution.id}`` — the institution's physical site, one per institution,
  managed by ``Organization/{institution.id}``.
- ``Practitioner/{practitioner.id}``.
- ``PractitionerRole/home-{practitioner.id}`` — the practitioner's home post at the
  institution they are registered with (always active, no period).
- ``PractitionerRole/{practitioner_role.id}`` — a role held at an institution for a period:
  stationed expert 派驻专家, visiting expert, executive director 执行主任 and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from yilian.fhir import systems
from yilian.registry import labels
from yilian.registry.models import (
    Department,
    Institution,
    InstitutionLevel,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
    Region,
    RegionLevel,
)

HOME_ROLE_PREFIX = "home-"
DEPARTMENT_PREFIX = "dept-"
HOME_ROLE_KIND = PractitionerRoleKind.STAFF
# GB/T 2260 placeholders under a municipality or province ("市辖区", "县", …): the
# municipality itself is then the city of the address.
_PLACEHOLDER_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})


def organization_id(institution_id: int) -> str:
    """Logical id of an institution's Organization."""
    return str(institution_id)


def department_organization_id(department_id: int) -> str:
    """Logical id of a department's Organization."""
    return f"{DEPARTMENT_PREFIX}{department_id}"


def home_role_id(practitioner_id: int) -> str:
    """Logical id of a practitioner's home PractitionerRole."""
    return f"{HOME_ROLE_PREFIX}{practitioner_id}"


def _concept(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _reference(resource_type: str, logical_id: str, display: str = "") -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{logical_id}"}
    if display:
        reference["display"] = display
    return reference


def _aliases(name_en: str) -> dict[str, Any]:
    return {"alias": [name_en]} if name_en else {}


def _phone(phone: str) -> dict[str, Any]:
    return {"telecom": [{"system": "phone", "value": phone, "use": "work"}]} if phone else {}


# ---------------------------------------------------------------- addresses


@dataclass(frozen=True)
class Place:
    """The province 省, city 市 and county 县/区 of a GB/T 2260 code, as address parts."""

    code: str
    state: str = ""
    city: str = ""
    district: str = ""


def city_name(region: Region, regions: Mapping[str, Region]) -> str:
    """A city-level region's name as an address writes it (a municipality for 市辖区)."""
    parent = regions.get(region.parent_code) if region.parent_code else None
    if region.name in _PLACEHOLDER_NAMES and parent is not None:
        return parent.name
    return region.name


def place_of(code: str, regions: Mapping[str, Region]) -> Place:
    """The address parts of a region code, from the region and its ancestors."""
    parts: dict[str, str] = {}
    region = regions.get(code)
    while region is not None:
        if region.level is RegionLevel.PROVINCE:
            parts["state"] = region.name
        elif region.level is RegionLevel.CITY:
            parts["city"] = city_name(region, regions)
        else:
            parts["district"] = region.name
        region = regions.get(region.parent_code) if region.parent_code else None
    if "state" in parts and "city" not in parts and "district" in parts:
        parts["city"] = parts["state"]
    return Place(code=code, **parts)


def address(place: Place, street: str) -> dict[str, Any]:
    """A FHIR Address, Chinese order in ``text`` (province, city, county, street)."""
    pieces = [place.state, place.city if place.city != place.state else "", place.district,
              street]
    result: dict[str, Any] = {"use": "work", "type": "physical", "country": "CN"}
    text = "".join(piece for piece in pieces if piece)
    if text:
        result["text"] = text
    if street:
        result["line"] = [street]
    for key in ("city", "district", "state"):
        if getattr(place, key):
            result[key] = getattr(place, key)
    return result


# ---------------------------------------------------------------- organizations, locations


def institution_to_organization(institution: Institution, place: Place) -> dict[str, Any]:
    """An institution as an Organization: code, kind/level/grade as types, campus parent."""
    level = InstitutionLevel(institution.level)
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": organization_id(institution.id),
        "identifier": [
            {"use": "official", "system": systems.INSTITUTION_CODE, "value": institution.code}
        ],
        "active": True,
        "type": [
            _concept(systems.HL7_ORGANIZATION_TYPE, "prov", "Healthcare Provider"),
            _concept(systems.INSTITUTION_KIND, institution.kind.value,
                     labels.INSTITUTION_KINDS[institution.kind][0]),
            _concept(systems.INSTITUTION_LEVEL, str(level.value),
                     labels.INSTITUTION_LEVELS[level][0]),
            _concept(systems.INSTITUTION_GRADE, institution.grade.value,
                     labels.INSTITUTION_GRADES[institution.grade][0]),
        ],
        "name": institution.name,
        **_aliases(institution.name_en),
        **_phone(institution.phone),
        "address": [address(place, institution.address)],
    }
    if institution.parent is not None:
        resource["partOf"] = _reference(
            "Organization", organization_id(institution.parent.id), institution.parent.name
        )
    return resource


def department_to_organization(department: Department) -> dict[str, Any]:
    """A department as an Organization of type ``dept``, part of its institution."""
    institution = department.institution
    return {
        "resourceType": "Organization",
        "id": department_organization_id(department.id),
        "identifier": [
            {
                "use": "official",
                "system": systems.DEPARTMENT_CODE,
                "value": f"{institution.code}/{department.code}",
            }
        ],
        "active": True,
        "type": [
            _concept(systems.HL7_ORGANIZATION_TYPE, "dept", "Hospital Department"),
            _concept(systems.SPECIALTY, department.specialty),
        ],
        "name": department.name,
        **_aliases(department.name_en),
        "partOf": _reference("Organization", organization_id(institution.id), institution.name),
    }


def institution_to_location(institution: Institution, place: Place) -> dict[str, Any]:
    """The institution's site as a Location managed by its Organization."""
    return {
        "resourceType": "Location",
        "id": organization_id(institution.id),
        "identifier": [{"system": systems.INSTITUTION_CODE, "value": institution.code}],
        "status": "active",
        "name": institution.name,
        **_aliases(institution.name_en),
        "mode": "instance",
        "physicalType": _concept(systems.HL7_LOCATION_PHYSICAL_TYPE, "si", "Site"),
        **_phone(institution.phone),
        "address": address(place, institution.address),
        "managingOrganization": _reference(
            "Organization", organization_id(institution.id), institution.name
        ),
    }


# ---------------------------------------------------------------- practitioners


def practitioner_to_fhir(practitioner: Practitioner) -> dict[str, Any]:
    """A practitioner: code and licence number as identifiers, title 职称 as qualification."""
    identifiers = [
        {"use": "official", "system": systems.PRACTITIONER_CODE, "value": practitioner.code}
    ]
    if practitioner.license_number:
        identifiers.append(
            {"system": systems.PRACTITIONER_LICENCE, "value": practitioner.license_number}
        )
    title = labels.PRACTITIONER_TITLES[practitioner.title][0]
    return {
        "resourceType": "Practitioner",
        "id": str(practitioner.id),
        "identifier": identifiers,
        "active": True,
        "name": [{"use": "official", "text": practitioner.name}],
        "gender": practitioner.sex,
        "qualification": [
            {
                "code": {
                    **_concept(systems.PRACTITIONER_TITLE, practitioner.title.value, title),
                    "text": title,
                }
            }
        ],
    }


def _role_parts(
    practitioner: Practitioner, institution: Institution, kind: PractitionerRoleKind,
    specialty: str,
) -> dict[str, Any]:
    return {
        "practitioner": _reference("Practitioner", str(practitioner.id), practitioner.name),
        "organization": _reference(
            "Organization", organization_id(institution.id), institution.name
        ),
        "code": [
            _concept(systems.PRACTITIONER_ROLE, kind.value, labels.PRACTITIONER_ROLE_KINDS[kind][0])
        ],
        "specialty": [_concept(systems.SPECIALTY, specialty)],
        "location": [_reference("Location", organization_id(institution.id), institution.name)],
    }


def home_role_to_fhir(practitioner: Practitioner) -> dict[str, Any]:
    """A practitioner's home post as a PractitionerRole (always active, no period)."""
    return {
        "resourceType": "PractitionerRole",
        "id": home_role_id(practitioner.id),
        "active": True,
        **_role_parts(practitioner, practitioner.institution, HOME_ROLE_KIND,
                      practitioner.specialty),
    }


def role_is_active(role: PractitionerRole, today: date) -> bool:
    """Whether the role's period covers ``today``."""
    return role.start_date <= today and (role.end_date is None or role.end_date >= today)


def role_to_fhir(role: PractitionerRole, today: date) -> dict[str, Any]:
    """A registry role as a PractitionerRole with its period."""
    period = {"start": role.start_date.isoformat()}
    if role.end_date is not None:
        period["end"] = role.end_date.isoformat()
    specialty = role.department.specialty if role.department else role.practitioner.specialty
    return {
        "resourceType": "PractitionerRole",
        "id": str(role.id),
        "active": role_is_active(role, today),
        "period": period,
        **_role_parts(role.practitioner, role.institution, role.role, specialty),
    }
