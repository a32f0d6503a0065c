"""API shapes of the agreement network (institutions as nodes, agreements as edges) and of
the programme counts per region."""

from __future__ import annotations

from datetime import date

from yilian.analytics.schemas import Definition
from yilian.registry.models import AgreementStatus, AgreementType, InstitutionKind
from yilian.schemas import ReadModel


class NetworkNode(ReadModel):
    """An institution at one or both ends of a shown agreement."""

    id: int
    code: str
    name: str
    name_en: str
    region_code: str
    province_code: str  # the GB/T 2260 province (北京 110000, 天津 120000, 河北 130000 …)
    province_name: str
    province_name_en: str
    level: int
    kind: InstitutionKind
    beds: int
    agreements: int  # shown agreements it is a party to


class NetworkEdge(ReadModel):
    """One lead–member pair of an agreement: a trusteeship is one edge, an alliance of a
    lead and four members four."""

    agreement_id: int
    agreement_code: str
    type: AgreementType
    title: str
    title_en: str
    specialty: str
    status: AgreementStatus
    start_date: date
    end_date: date | None
    lead_id: int
    lead_code: str
    lead_name: str
    lead_name_en: str
    lead_department: str  # the lead's department in the agreement, "" when none is named
    lead_department_en: str
    member_id: int
    member_code: str
    member_name: str
    member_name_en: str
    member_department: str
    member_department_en: str


class NetworkGraph(ReadModel):
    """``GET /api/v1/analytics/network``: the definition, the nodes and the edges."""

    definition: Definition
    period_from: date | None
    period_to: date | None
    nodes: list[NetworkNode]
    edges: list[NetworkEdge]


class ProgrammeFigure(ReadModel):
    """One figure of the programme table: its column key, its heading and its definition."""

    code: str
    label_zh: str
    label_en: str
    zh: str
    en: str


class ProgrammeRow(ReadModel):
    """The programme in one city-level region, or across everything shown (region_code None)."""

    region_code: str | None
    region_name: str
    region_name_en: str
    institutions: int
    partners: int | None  # None on the total row: no one is outside the whole network
    agreements: int
    trusteeships: int
    co_built_departments: int
    specialty_alliances: int
    regional_medical_centres: int
    research_projects: int
    new_techniques: int
    experts_received: int
    trainees_sent: int


class ProgrammeReport(ReadModel):
    """``GET /api/v1/analytics/programme``: the figures' definitions and one row per region,
    the total row last."""

    definition: Definition
    period_from: date | None
    period_to: date | None
    figures: list[ProgrammeFigure]
    rows: list[ProgrammeRow]
