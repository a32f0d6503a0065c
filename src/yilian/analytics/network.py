"""The agreement network and the programme counts per region: pure reads of the registry.

Institutions are the nodes, agreements the edges (one per lead–member pair); the programme
table counts agreements, co-built departments, alliances, new techniques, research
projects, experts and trainees per city-level region with one GROUP BY per figure. The
registry's tables are small (hundreds of agreements), so nothing here is pre-aggregated.

Who sees what: a commission analyst seated in a region sees the edges with at least one end
in it (so both ends of each), hospital staff the edges of their institution and its
campuses; the platform administrator and an analyst without a seat the whole network.
No patient data is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from yilian.analytics import service as analytics
from yilian.analytics.network_schemas import (
    NetworkEdge,
    NetworkGraph,
    NetworkNode,
    ProgrammeFigure,
    ProgrammeReport,
    ProgrammeRow,
)
from yilian.analytics.schemas import Definition
from yilian.auth.permissions import Action, Principal, Scope, authorize, scope_of
from yilian.errors import InvalidInput
from yilian.registry import service as registry
from yilian.registry.models import (
    Agreement,
    AgreementParty,
    AgreementStatus,
    AgreementType,
    Department,
    Institution,
    PartyRole,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
    Region,
)

__all__ = ["FIGURES", "NETWORK", "PROGRAMME", "NetworkQuery", "ReaderScope", "network_graph",
           "programme", "reader_scope"]

IN_FORCE_ZH = ("统计期：开始日期不晚于期末、结束日期为空或不早于期初的协议"
               "（拟定状态的协议从未生效，不计）；不选统计期则为全部已签订（非拟定）的协议。")
IN_FORCE_EN = ("Period: agreements starting on or before its last day and ending (if at all) on "
               "or after its first day; drafts never came into force and are left out. Without "
               "a period: every signed (non-draft) agreement.")

NETWORK = Definition(
    code="network",
    zh=("协作网络：节点为机构（大小按床位数，颜色按所在省份或机构类别），连线为协议的牵头方与"
        "每个成员方之间的合作关系（托管为一条连线，一个牵头方四个成员的专科联盟为四条）。"
        + IN_FORCE_ZH + "按地区或机构筛选时，显示至少一端在该地区（机构）的连线及其两端。"
        "分析员只看到至少一端在本辖区的连线，医院人员只看到本机构（含所辖院区）的连线。"),
    en=("Collaboration network: institutions are the nodes (sized by beds, coloured by "
        "province or kind), and each lead–member pair of an agreement is an edge (a "
        "trusteeship is one edge; a specialty alliance of one lead and four members, four). "
        + IN_FORCE_EN + " Filtering by region or institution shows the edges with at least "
        "one end there, and both their ends. An analyst sees the edges with an end in their "
        "region, hospital staff those of their institution and its campuses."),
)

PROGRAMME = Definition(
    code="programme",
    zh=("合作项目统计：按机构所在地级行政区（直辖市按全市）统计；一项协议有几方在同一地区只计一次，"
        "跨地区的协议在各方所在地区各计一次，合计行中只计一次。" + IN_FORCE_ZH),
    en=("Programme counts per city-level region (a municipality as a whole): an agreement "
        "counts once in a region however many of its parties lie there, once in each region "
        "it spans, and once in the total row. " + IN_FORCE_EN),
)

EXPERT_ROLES = (PractitionerRoleKind.STATIONED_EXPERT, PractitionerRoleKind.VISITING_EXPERT)

FIGURES = (
    ProgrammeFigure(
        code="institutions", label_zh="参与机构", label_en="Institutions",
        zh="本地区作为协议方参加至少一项所计协议（含新技术新项目）的机构数。",
        en="Institutions of the region that are a party to at least one counted agreement "
           "(new techniques included)."),
    ProgrammeFigure(
        code="partners", label_zh="合作机构", label_en="Partner institutions",
        zh="与本地区机构同为一项所计协议协议方的本地区以外机构数（合计行不适用）。",
        en="Institutions outside the region that share a counted agreement with one of its "
           "institutions (not applicable to the total row)."),
    ProgrammeFigure(
        code="agreements", label_zh="合作协议", label_en="Agreements",
        zh="至少一方在本地区的协作协议数：托管、城市医疗集团、县域医共体、专科联盟、远程医疗协作网、"
           "共建科室、专家工作站、国家区域医疗中心、科研合作项目；新技术新项目另计。",
        en="Collaboration agreements with at least one party in the region: trusteeships, "
           "city groups, county communities, specialty alliances, telemedicine networks, "
           "co-built departments, expert workstations, regional medical centres and research "
           "projects; new techniques are counted apart."),
    ProgrammeFigure(
        code="trusteeships", label_zh="托管", label_en="Trusteeships",
        zh="至少一方在本地区的托管协议数。",
        en="Trusteeship agreements with a party in the region."),
    ProgrammeFigure(
        code="co_built_departments", label_zh="共建科室", label_en="Co-built departments",
        zh="至少一方在本地区的共建科室协议数（每个共建科室一项协议）。",
        en="Co-built department agreements with a party in the region (one per department)."),
    ProgrammeFigure(
        code="specialty_alliances", label_zh="专科联盟", label_en="Specialty alliances",
        zh="本地区有机构参加的专科联盟数（同一联盟有本地区多家成员也只计一次）。",
        en="Specialty alliances with a member or lead in the region (an alliance with several "
           "members there counts once)."),
    ProgrammeFigure(
        code="regional_medical_centres", label_zh="国家区域医疗中心",
        label_en="Regional medical centres",
        zh="至少一方在本地区的国家区域医疗中心项目数。",
        en="National regional medical centre projects with a party in the region."),
    ProgrammeFigure(
        code="research_projects", label_zh="科研合作项目", label_en="Research projects",
        zh="至少一方在本地区的科研合作项目数。",
        en="Research projects with a party in the region."),
    ProgrammeFigure(
        code="new_techniques", label_zh="新技术新项目", label_en="New techniques",
        zh="至少一方在本地区的新技术新项目数（登记为“新技术新项目”类协议：输出方与引进方各一方）；"
           "对河北地区即引进的新技术，对北京地区即输出的新技术。",
        en="New techniques with a party in the region (registered as agreements of type "
           "new technique, the bringing and the receiving hospital): for a Hebei region those "
           "introduced there, for Beijing those its hospitals brought elsewhere."),
    ProgrammeFigure(
        code="experts_received", label_zh="派驻/出诊专家", label_en="Experts received",
        zh="在本地区机构担任派驻专家或出诊专家、且其本院为另一机构的医师人数（同一人计一次）；"
           "有统计期时为任职期与统计期相交者。",
        en="Practitioners holding a stationed- or visiting-expert role at an institution of "
           "the region other than their home institution, each counted once; with a period, "
           "roles overlapping it."),
    ProgrammeFigure(
        code="trainees_sent", label_zh="外出进修", label_en="Trainees sent",
        zh="本院在本地区、到另一机构进修的医务人员人数（同一人计一次）；有统计期时为进修期与统计期相交者。",
        en="Staff of the region's institutions placed as trainees at another institution, each "
           "counted once; with a period, placements overlapping it."),
)


@dataclass(frozen=True)
class NetworkQuery:
    """What the network graph (and, without types and specialty, the programme) is asked for."""

    date_from: date | None = None
    date_to: date | None = None
    region_code: str | None = None  # GB/T 2260: edges with an end (parties) in this region
    institution_id: int | None = None  # edges with this institution at one end
    types: tuple[AgreementType, ...] = ()
    specialty: str | None = None
    status: AgreementStatus | None = None  # default: every status but draft


@dataclass(frozen=True)
class ReaderScope:
    """The institutions whose agreements a reader sees: within a region prefix, among a set
    of institutions, or (both None) the whole network."""

    region_prefix: str | None = None
    institution_ids: frozenset[int] | None = None

    @property
    def whole_network(self) -> bool:
        return self.region_prefix is None and self.institution_ids is None


def reader_scope(session: Session, principal: Principal) -> ReaderScope:
    """Analysts: their seat's region (None: the network); hospital staff: their institutions."""
    authorize(principal, Action.ANALYTICS_READ)
    watched = analytics.analyst_region(session, principal)
    own = scope_of(principal, Action.ANALYTICS_READ) is Scope.OWN
    return ReaderScope(
        region_prefix=registry.region_prefix(watched) if watched else None,
        institution_ids=principal.institution_ids if own else None)


# ---------------------------------------------------------------- conditions

InstitutionCondition = Callable[[Any], ColumnElement[bool]]


def _institution_conditions(scope: ReaderScope, region_code: str | None,
                            institution_id: int | None) -> list[InstitutionCondition]:
    """What an institution must be to count: in the reader's scope and in the filters."""
    conditions: list[InstitutionCondition] = []
    if scope.region_prefix is not None:
        prefix = scope.region_prefix
        conditions.append(lambda i: i.region_code.startswith(prefix))
    if scope.institution_ids is not None:
        ids = sorted(scope.institution_ids)
        conditions.append(lambda i: i.id.in_(ids))
    if region_code:
        wanted = registry.region_prefix(region_code)
        conditions.append(lambda i: i.region_code.startswith(wanted))
    if institution_id is not None:
        conditions.append(lambda i: i.id == institution_id)
    return conditions


def _agreement_conditions(query: NetworkQuery) -> list[ColumnElement[bool]]:
    """Type, specialty, status and the period the agreement must have been in force in."""
    conditions: list[ColumnElement[bool]] = []
    if query.types:
        conditions.append(Agreement.type.in_(query.types))
    if query.specialty:
        conditions.append(Agreement.specialty == query.specialty)
    if query.status is not None:
        conditions.append(Agreement.status == query.status)
    if query.status is None or query.date_from or query.date_to:
        conditions.append(Agreement.status != AgreementStatus.DRAFT)
    if query.date_to is not None:
        conditions.append(Agreement.start_date <= query.date_to)
    if query.date_from is not None:
        conditions.append(or_(Agreement.end_date.is_(None), Agreement.end_date >= query.date_from))
    return conditions


def _check(session: Session, query: NetworkQuery) -> None:
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise InvalidInput("period_reversed", "起始日期不能晚于结束日期",
                           "The first day cannot come after the last")
    if query.institution_id is not None:
        registry.get_institution_or_raise(session, institution_id=query.institution_id)


def _overlaps(query: NetworkQuery) -> list[ColumnElement[bool]]:
    """A practitioner role held at some time in the period."""
    conditions: list[ColumnElement[bool]] = []
    if query.date_to is not None:
        conditions.append(PractitionerRole.start_date <= query.date_to)
    if query.date_from is not None:
        conditions.append(or_(PractitionerRole.end_date.is_(None),
                              PractitionerRole.end_date >= query.date_from))
    return conditions


# ---------------------------------------------------------------- the graph


def _provinces(session: Session, region_codes: Iterable[str]) -> dict[str, Region]:
    codes = {f"{code[:2]}0000" for code in region_codes}
    return {r.code: r for r in session.scalars(select(Region).where(Region.code.in_(codes)))}


def network_graph(session: Session, principal: Principal, *, query: NetworkQuery) -> NetworkGraph:
    """The agreements the reader may see as edges between institutions, with their nodes."""
    _check(session, query)
    scope = reader_scope(session, principal)
    lead_party, member_party = aliased(AgreementParty), aliased(AgreementParty)
    lead, member = aliased(Institution), aliased(Institution)
    lead_department, member_department = aliased(Department), aliased(Department)
    either_end = [or_(condition(lead), condition(member)) for condition in
                  _institution_conditions(scope, query.region_code, query.institution_id)]
    statement = (
        select(Agreement.id, Agreement.code, Agreement.type, Agreement.title, Agreement.title_en,
               Agreement.specialty, Agreement.status, Agreement.start_date, Agreement.end_date,
               lead.id, lead.code, lead.name, lead.name_en, lead_department.name,
               lead_department.name_en, member.id, member.code, member.name, member.name_en,
               member_department.name, member_department.name_en)
        .join(lead_party, and_(lead_party.agreement_id == Agreement.id,
                               lead_party.role == PartyRole.LEAD))
        .join(member_party, and_(member_party.agreement_id == Agreement.id,
                                 member_party.role == PartyRole.MEMBER))
        .join(lead, lead.id == lead_party.institution_id)
        .join(member, member.id == member_party.institution_id)
        .outerjoin(lead_department, lead_department.id == lead_party.department_id)
        .outerjoin(member_department, member_department.id == member_party.department_id)
        .where(*_agreement_conditions(query), *either_end)
        .order_by(Agreement.start_date, Agreement.code, lead.code, member.code))
    edges = [NetworkEdge(
        agreement_id=row[0], agreement_code=row[1], type=row[2], title=row[3], title_en=row[4],
        specialty=row[5], status=row[6], start_date=row[7], end_date=row[8], lead_id=row[9],
        lead_code=row[10], lead_name=row[11], lead_name_en=row[12],
        lead_department=row[13] or "", lead_department_en=row[14] or "", member_id=row[15],
        member_code=row[16], member_name=row[17], member_name_en=row[18],
        member_department=row[19] or "", member_department_en=row[20] or "",
    ) for row in session.execute(statement)]
    agreements_of = Counter(institution_id for _, institution_id in {
        (e.agreement_id, i) for e in edges for i in (e.lead_id, e.member_id)})
    institutions = session.execute(
        select(Institution.id, Institution.code, Institution.name, Institution.name_en,
               Institution.region_code, Institution.level, Institution.kind, Institution.beds)
        .where(Institution.id.in_(sorted(agreements_of))).order_by(Institution.code)).all()
    provinces = _provinces(session, (row[4] for row in institutions))
    nodes = []
    for row in institutions:
        province = provinces.get(f"{row[4][:2]}0000")
        nodes.append(NetworkNode(
            id=row[0], code=row[1], name=row[2], name_en=row[3], region_code=row[4],
            province_code=f"{row[4][:2]}0000", province_name=province.name if province else "",
            province_name_en=province.name_en if province else "", level=row[5], kind=row[6],
            beds=row[7], agreements=agreements_of[row[0]]))
    return NetworkGraph(definition=NETWORK, period_from=query.date_from,
                        period_to=query.date_to, nodes=nodes, edges=edges)


# ---------------------------------------------------------------- the programme


def _city(region_code: Any) -> ColumnElement[str]:
    """The city-level prefix of a region code (four digits; a municipality's ``1101``)."""
    return func.substr(region_code, 1, 4)


Grouped = dict[str | None, int]


def _grouped(session: Session, statement: Any, by_city: bool) -> Grouped:
    """``{city prefix: count}`` or, for the total, ``{None: count}``."""
    if not by_city:
        return {None: int(session.scalar(statement) or 0)}
    return {row[0]: int(row[1]) for row in session.execute(statement)}


def _type_counts(session: Session, party_where: list[ColumnElement[bool]],
                 agreement_where: list[ColumnElement[bool]],
                 ) -> dict[tuple[str | None, AgreementType], int]:
    """Agreements of each type per city (an agreement once per city it has parties in),
    and in total (``None``: each agreement once)."""
    city = _city(Institution.region_code)
    pairs = (select(AgreementParty.agreement_id.label("agreement_id"), city.label("city"))
             .join(Institution, Institution.id == AgreementParty.institution_id)
             .where(*party_where)
             .group_by(AgreementParty.agreement_id, city)
             .subquery())
    per_city = (select(pairs.c.city, Agreement.type, func.count(func.distinct(Agreement.id)))
                .join(Agreement, Agreement.id == pairs.c.agreement_id)
                .where(*agreement_where)
                .group_by(pairs.c.city, Agreement.type))
    total = (select(Agreement.type, func.count(func.distinct(Agreement.id)))
             .join(pairs, pairs.c.agreement_id == Agreement.id)
             .where(*agreement_where)
             .group_by(Agreement.type))
    found: dict[tuple[str | None, AgreementType], int] = {
        (row[0], AgreementType(row[1])): int(row[2]) for row in session.execute(per_city)}
    found.update({(None, AgreementType(row[0])): int(row[1]) for row in session.execute(total)})
    return found


def _institution_counts(session: Session, party_where: list[ColumnElement[bool]],
                        agreement_where: list[ColumnElement[bool]], by_city: bool) -> Grouped:
    city = _city(Institution.region_code)
    counted = func.count(func.distinct(AgreementParty.institution_id))
    statement = (select(city, counted) if by_city else select(counted))
    statement = (statement.select_from(AgreementParty)
                 .join(Institution, Institution.id == AgreementParty.institution_id)
                 .join(Agreement, Agreement.id == AgreementParty.agreement_id)
                 .where(*party_where, *agreement_where))
    return _grouped(session, statement.group_by(city) if by_city else statement, by_city)


def _partner_counts(session: Session, conditions: list[InstitutionCondition],
                    agreement_where: list[ColumnElement[bool]]) -> Grouped:
    own_party, partner_party = aliased(AgreementParty), aliased(AgreementParty)
    own, partner = aliased(Institution), aliased(Institution)
    city = _city(own.region_code)
    statement = (select(city, func.count(func.distinct(partner_party.institution_id)))
                 .select_from(own_party)
                 .join(own, own.id == own_party.institution_id)
                 .join(partner_party, partner_party.agreement_id == own_party.agreement_id)
                 .join(partner, partner.id == partner_party.institution_id)
                 .join(Agreement, Agreement.id == own_party.agreement_id)
                 .where(*[condition(own) for condition in conditions], *agreement_where,
                        _city(partner.region_code) != city)
                 .group_by(city))
    return _grouped(session, statement, True)


def _role_counts(session: Session, conditions: list[InstitutionCondition], query: NetworkQuery,
                 *, trainees: bool, by_city: bool) -> Grouped:
    """Experts received (by the role's institution) or trainees sent (by the home one)."""
    counted_at = aliased(Institution)
    city = _city(counted_at.region_code)
    counted = func.count(func.distinct(PractitionerRole.practitioner_id))
    statement = (select(city, counted) if by_city else select(counted))
    statement = (statement.select_from(PractitionerRole)
                 .join(Practitioner, Practitioner.id == PractitionerRole.practitioner_id)
                 .join(counted_at, counted_at.id == (Practitioner.institution_id if trainees
                                                     else PractitionerRole.institution_id))
                 .where(PractitionerRole.role.in_(
                            [PractitionerRoleKind.TRAINEE] if trainees else EXPERT_ROLES),
                        PractitionerRole.institution_id != Practitioner.institution_id,
                        *[condition(counted_at) for condition in conditions], *_overlaps(query)))
    return _grouped(session, statement.group_by(city) if by_city else statement, by_city)


def _region_names(session: Session, prefixes: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Names of the city-level regions; a municipality's 市辖区 is named after the city."""
    cities = {f"{prefix}00" for prefix in prefixes}
    wanted = cities | {f"{code[:2]}0000" for code in cities}
    regions = {r.code: r for r in session.scalars(select(Region).where(Region.code.in_(wanted)))}
    names: dict[str, tuple[str, str]] = {}
    for code in cities:
        city, province = regions.get(code), regions.get(f"{code[:2]}0000")
        if city is None or (city.name in ("市辖区", "县") and province is not None):
            city = province
        names[code[:4]] = (city.name, city.name_en) if city else (code, code)
    return names


def programme(session: Session, principal: Principal, *, query: NetworkQuery) -> ProgrammeReport:
    """Agreements, co-built departments, alliances, new techniques, research projects,
    experts and trainees per city-level region the reader may see, and their total."""
    _check(session, query)
    scope = reader_scope(session, principal)
    conditions = _institution_conditions(scope, query.region_code, query.institution_id)
    party_where = [condition(Institution) for condition in conditions] or [true()]
    agreement_where = _agreement_conditions(NetworkQuery(
        date_from=query.date_from, date_to=query.date_to, status=query.status))
    by_type = _type_counts(session, party_where, agreement_where)
    institutions = {**_institution_counts(session, party_where, agreement_where, True),
                    **_institution_counts(session, party_where, agreement_where, False)}
    partners = _partner_counts(session, conditions, agreement_where)
    experts = {**_role_counts(session, conditions, query, trainees=False, by_city=True),
               **_role_counts(session, conditions, query, trainees=False, by_city=False)}
    trained = {**_role_counts(session, conditions, query, trainees=True, by_city=True),
               **_role_counts(session, conditions, query, trainees=True, by_city=False)}
    prefixes = sorted({key for key in institutions if key is not None}
                      | {key for key in experts if key is not None}
                      | {key for key in trained if key is not None})
    names = _region_names(session, prefixes)
    whole = scope.whole_network and not query.region_code and query.institution_id is None

    def row(prefix: str | None) -> ProgrammeRow:
        counts = {kind: n for (key, kind), n in by_type.items() if key == prefix}
        name, name_en = (names[prefix] if prefix is not None
                         else ("全网", "Whole network") if whole else ("合计", "Total"))
        return ProgrammeRow(
            region_code=f"{prefix}00" if prefix is not None else None, region_name=name,
            region_name_en=name_en, institutions=institutions.get(prefix, 0),
            partners=partners.get(prefix, 0) if prefix is not None else None,
            agreements=sum(n for kind, n in counts.items()
                           if kind is not AgreementType.NEW_TECHNIQUE),
            trusteeships=counts.get(AgreementType.TRUSTEESHIP, 0),
            co_built_departments=counts.get(AgreementType.CO_BUILT_DEPARTMENT, 0),
            specialty_alliances=counts.get(AgreementType.SPECIALTY_ALLIANCE, 0),
            regional_medical_centres=counts.get(AgreementType.REGIONAL_MEDICAL_CENTRE, 0),
            research_projects=counts.get(AgreementType.RESEARCH_PROJECT, 0),
            new_techniques=counts.get(AgreementType.NEW_TECHNIQUE, 0),
            experts_received=experts.get(prefix, 0), trainees_sent=trained.get(prefix, 0))

    rows = [row(prefix) for prefix in prefixes]
    rows.append(row(None))
    return ProgrammeReport(definition=PROGRAMME, period_from=query.date_from,
                           period_to=query.date_to, figures=list(FIGURES), rows=rows)
