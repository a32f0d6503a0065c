"""Display names of the registry's enums and of user roles, Chinese and English.

Imported for its side effect by the registry pages: after import, the ``label()`` template
global shows any of these members in the reader's language. Every member of every enum
listed here must have a name; a test checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from yilian import i18n
from yilian.auth.models import Role
from yilian.auth.permissions import ROLE_NAMES
from yilian.registry.models import (
    AgreementStatus,
    AgreementType,
    EmergencyCentre,
    InstitutionGrade,
    InstitutionKind,
    InstitutionLevel,
    PartyRole,
    PractitionerRoleKind,
    PractitionerTitle,
    RegionLevel,
)

REGION_LEVELS: Final[Mapping[RegionLevel, tuple[str, str]]] = {
    RegionLevel.PROVINCE: ("省级", "Province"),
    RegionLevel.CITY: ("地级市", "City"),
    RegionLevel.COUNTY: ("县级", "County"),
}

# Institution.level is stored as a plain int; an IntEnum member equals its int, so
# ``label(institution.level)`` finds these names too.
INSTITUTION_LEVELS: Final[Mapping[InstitutionLevel, tuple[str, str]]] = {
    InstitutionLevel.PRIMARY: ("一级", "Level 1"),
    InstitutionLevel.SECONDARY: ("二级", "Level 2"),
    InstitutionLevel.TERTIARY: ("三级", "Level 3"),
}

INSTITUTION_GRADES: Final[Mapping[InstitutionGrade, tuple[str, str]]] = {
    InstitutionGrade.A: ("甲等", "Grade A"),
    InstitutionGrade.B: ("乙等", "Grade B"),
    InstitutionGrade.C: ("丙等", "Grade C"),
    InstitutionGrade.UNGRADED: ("未定等", "Ungraded"),
}

INSTITUTION_KINDS: Final[Mapping[InstitutionKind, tuple[str, str]]] = {
    InstitutionKind.GENERAL_HOSPITAL: ("综合医院", "General hospital"),
    InstitutionKind.TCM_HOSPITAL: ("中医医院", "TCM hospital"),
    InstitutionKind.SPECIALTY_HOSPITAL: ("专科医院", "Specialty hospital"),
    InstitutionKind.CHILDREN_HOSPITAL: ("儿童医院", "Children's hospital"),
    InstitutionKind.MATERNAL_CHILD: ("妇幼保健院", "Maternal and child health hospital"),
    InstitutionKind.STOMATOLOGY_HOSPITAL: ("口腔医院", "Stomatology hospital"),
    InstitutionKind.CANCER_HOSPITAL: ("肿瘤医院", "Cancer hospital"),
    InstitutionKind.TOWNSHIP_HEALTH_CENTRE: ("乡镇卫生院", "Township health centre"),
    InstitutionKind.COMMUNITY_HEALTH_CENTRE: ("社区卫生服务中心", "Community health centre"),
    InstitutionKind.VILLAGE_CLINIC: ("村卫生室", "Village clinic"),
}

EMERGENCY_CENTRES: Final[Mapping[EmergencyCentre, tuple[str, str]]] = {
    EmergencyCentre.CHEST_PAIN: ("胸痛中心", "Chest pain centre"),
    EmergencyCentre.STROKE: ("卒中中心", "Stroke centre"),
    EmergencyCentre.TRAUMA: ("创伤中心", "Trauma centre"),
    EmergencyCentre.MATERNAL: ("危重孕产妇救治中心", "Critical maternal care centre"),
    EmergencyCentre.NEONATAL: ("危重新生儿救治中心", "Critical neonatal care centre"),
}

PRACTITIONER_TITLES: Final[Mapping[PractitionerTitle, tuple[str, str]]] = {
    PractitionerTitle.CHIEF_PHYSICIAN: ("主任医师", "Chief physician"),
    PractitionerTitle.ASSOCIATE_CHIEF_PHYSICIAN: ("副主任医师", "Associate chief physician"),
    PractitionerTitle.ATTENDING_PHYSICIAN: ("主治医师", "Attending physician"),
    PractitionerTitle.RESIDENT_PHYSICIAN: ("住院医师", "Resident physician"),
    PractitionerTitle.VILLAGE_DOCTOR: ("乡村医生", "Village doctor"),
    PractitionerTitle.NURSE: ("护士", "Nurse"),
    PractitionerTitle.TECHNICIAN: ("技师", "Technician"),
}

PRACTITIONER_ROLE_KINDS: Final[Mapping[PractitionerRoleKind, tuple[str, str]]] = {
    PractitionerRoleKind.STAFF: ("在职医务人员", "Staff"),
    PractitionerRoleKind.DEPARTMENT_DIRECTOR: ("科室主任", "Department director"),
    PractitionerRoleKind.EXECUTIVE_DIRECTOR: ("执行主任", "Executive director"),
    PractitionerRoleKind.STATIONED_EXPERT: ("派驻专家", "Stationed expert"),
    PractitionerRoleKind.VISITING_EXPERT: ("出诊专家", "Visiting expert"),
    PractitionerRoleKind.REMOTE_CONSULTANT: ("远程会诊专家", "Remote consultant"),
    PractitionerRoleKind.TRAINEE: ("进修医师", "Trainee"),
    PractitionerRoleKind.EXECUTIVE_PRESIDENT: ("执行院长", "Executive president"),
}

AGREEMENT_TYPES: Final[Mapping[AgreementType, tuple[str, str]]] = {
    AgreementType.TRUSTEESHIP: ("托管", "Trusteeship"),
    AgreementType.CITY_GROUP: ("城市医疗集团", "City medical group"),
    AgreementType.COUNTY_COMMUNITY: ("县域医共体", "County medical community"),
    AgreementType.SPECIALTY_ALLIANCE: ("专科联盟", "Specialty alliance"),
    AgreementType.TELEMEDICINE_NETWORK: ("远程医疗协作网", "Telemedicine network"),
    AgreementType.CO_BUILT_DEPARTMENT: ("共建科室", "Co-built department"),
    AgreementType.EXPERT_WORKSTATION: ("专家工作站", "Expert workstation"),
    AgreementType.REGIONAL_MEDICAL_CENTRE: ("国家区域医疗中心", "Regional medical centre"),
    AgreementType.RESEARCH_PROJECT: ("科研合作项目", "Research project"),
    AgreementType.NEW_TECHNIQUE: ("新技术新项目", "New technique"),
}

AGREEMENT_STATUSES: Final[Mapping[AgreementStatus, tuple[str, str]]] = {
    AgreementStatus.DRAFT: ("拟定", "Draft"),
    AgreementStatus.ACTIVE: ("生效", "Active"),
    AgreementStatus.SUSPENDED: ("暂停", "Suspended"),
    AgreementStatus.ENDED: ("终止", "Ended"),
}

PARTY_ROLES: Final[Mapping[PartyRole, tuple[str, str]]] = {
    PartyRole.LEAD: ("牵头方", "Lead"),
    PartyRole.MEMBER: ("成员方", "Member"),
}

ROLES: Final[Mapping[Role, tuple[str, str]]] = dict(ROLE_NAMES)

ALL_LABELS: Final[tuple[Mapping[Any, tuple[str, str]], ...]] = (
    REGION_LEVELS,
    INSTITUTION_LEVELS,
    INSTITUTION_GRADES,
    INSTITUTION_KINDS,
    EMERGENCY_CENTRES,
    PRACTITIONER_TITLES,
    PRACTITIONER_ROLE_KINDS,
    AGREEMENT_TYPES,
    AGREEMENT_STATUSES,
    PARTY_ROLES,
    ROLES,
)

for _names in ALL_LABELS:
    i18n.register_labels(dict(_names))
