"""What a demo load did, and the text the CLI prints about it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from yilian.auth.models import Role
from yilian.patients.models import LinkMethod
from yilian.registry.models import AgreementType

DEMO_URL = "http://127.0.0.1:8000/"

# Chinese names of the agreement types, for the summary (the enum owns the English).
AGREEMENT_TYPE_ZH = {
    AgreementType.TRUSTEESHIP: "托管",
    AgreementType.CITY_GROUP: "城市医疗集团",
    AgreementType.COUNTY_COMMUNITY: "县域医共体",
    AgreementType.SPECIALTY_ALLIANCE: "专科联盟",
    AgreementType.TELEMEDICINE_NETWORK: "远程医疗协作网",
    AgreementType.CO_BUILT_DEPARTMENT: "共建科室",
    AgreementType.EXPERT_WORKSTATION: "专家工作站",
    AgreementType.REGIONAL_MEDICAL_CENTRE: "国家区域医疗中心",
    AgreementType.RESEARCH_PROJECT: "科研项目",
    AgreementType.NEW_TECHNIQUE: "新技术新项目",
}


@dataclass(frozen=True)
class DemoLogin:
    """A demo account: who it is, where, and whether this load created it."""

    username: str
    role: Role
    institution_code: str | None
    institution_name: str
    created: bool  # made by this load (False: it was already there)


@dataclass
class DemoReport:
    """Counts of what one load created, and the demo logins."""

    password: str
    network_created: bool
    regions: int = 0
    institutions: int = 0
    departments: int = 0
    practitioners: int = 0
    practitioner_roles: int = 0
    agreements_by_type: Counter[AgreementType] = field(default_factory=Counter)
    patients_by_link: dict[LinkMethod, int] = field(default_factory=dict)
    encounters: int = 0  # the encounter history (analytics)
    consultations: int = 0
    # Coordinators of the consulted hospitals and the experts who signed reports.
    consultation_accounts: int = 0
    logins: list[DemoLogin] = field(default_factory=list)
    password_opens_logins: bool = True  # False: the accounts keep an earlier load's password
    url: str = DEMO_URL

    @property
    def agreements(self) -> int:
        """Agreements created, all types together."""
        return sum(self.agreements_by_type.values())

    def summary(self) -> str:
        """Several lines for the terminal: counts, logins with the password, where to go."""
        lines = []
        if self.network_created:
            lines += [
                "演示网络已载入 / Demo network loaded:",
                f"  行政区划 regions {self.regions} · 机构 institutions {self.institutions}"
                f" · 科室 departments {self.departments}",
                f"  医务人员 practitioners {self.practitioners}"
                f" · 执业角色 practitioner roles {self.practitioner_roles}"
                f" · 协议 agreements {self.agreements}",
                "  " + ", ".join(
                    f"{AGREEMENT_TYPE_ZH[kind]} {kind.value} {self.agreements_by_type[kind]}"
                    for kind in AgreementType
                    if self.agreements_by_type[kind]
                ),
                f"  患者记录 patient records {sum(self.patients_by_link.values())}: "
                + ", ".join(f"{method.value} {count}"
                            for method, count in sorted(self.patients_by_link.items())),
                f"  就诊记录 encounters {self.encounters}",
                f"  远程会诊 consultations {self.consultations}",
            ]
        else:
            lines.append("演示网络已存在，未做更改 / Demo network already loaded; nothing changed.")
        if self.password_opens_logins:
            lines.append(f"演示账号 / Demo logins (密码 password: {self.password}):")
        else:
            lines.append("演示账号 / Demo logins (密码为首次载入时所设 / "
                         "password: the one given when they were first loaded):")
        width = max((len(login.username) for login in self.logins), default=0)
        for login in self.logins:
            where = (
                f"{login.institution_code} {login.institution_name}"
                if login.institution_code
                else "全网 whole network"
            )
            lines.append(f"  {login.username:<{width}}  {login.role.value:<18}  {where}")
        if self.consultation_accounts:
            lines.append(f"  另有会诊协调员与专家账号 {self.consultation_accounts} 个，密码相同 / "
                         f"plus {self.consultation_accounts} consultation coordinator and expert "
                         "accounts, same password (e.g. pkuph.telemed, pkuph-001)")
        lines.append(f"打开 / Open {self.url}  ·  API {self.url}api/docs"
                     f"  ·  FHIR {self.url}fhir/r4/metadata")
        return "\n".join(lines)
