"""Registry tables: who is in the network and how they are bound together."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow


class RegionLevel(enum.StrEnum):
    """Tier of a GB/T 2260 administrative division."""

    PROVINCE = "province"  # 省级
    CITY = "city"  # 地级
    COUNTY = "county"  # 县级


class InstitutionLevel(enum.IntEnum):
    """Hospital level under the grading system 医院等级 (1 = 一级 … 3 = 三级)."""

    PRIMARY = 1  # 一级
    SECONDARY = 2  # 二级
    TERTIARY = 3  # 三级


class InstitutionGrade(enum.StrEnum):
    """Grade within a level: 甲 (A), 乙 (B), 丙 (C); 未定 when not yet graded."""

    A = "甲"
    B = "乙"
    C = "丙"
    UNGRADED = "未定"


class InstitutionKind(enum.StrEnum):
    """What sort of institution it is."""

    GENERAL_HOSPITAL = "general_hospital"  # 综合医院
    TCM_HOSPITAL = "tcm_hospital"  # 中医医院
    SPECIALTY_HOSPITAL = "specialty_hospital"  # 专科医院
    CHILDREN_HOSPITAL = "children_hospital"  # 儿童医院
    MATERNAL_CHILD = "maternal_child"  # 妇幼保健院
    STOMATOLOGY_HOSPITAL = "stomatology_hospital"  # 口腔医院
    CANCER_HOSPITAL = "cancer_hospital"  # 肿瘤医院
    TOWNSHIP_HEALTH_CENTRE = "township_health_centre"  # 乡镇卫生院
    COMMUNITY_HEALTH_CENTRE = "community_health_centre"  # 社区卫生服务中心
    VILLAGE_CLINIC = "village_clinic"  # 村卫生室


class EmergencyCentre(enum.StrEnum):
    """The five emergency centres 五大中心 an institution may be certified for."""

    CHEST_PAIN = "chest_pain"  # 胸痛中心
    STROKE = "stroke"  # 卒中中心
    TRAUMA = "trauma"  # 创伤中心
    MATERNAL = "maternal"  # 危重孕产妇救治中心
    NEONATAL = "neonatal"  # 危重新生儿救治中心


class PractitionerTitle(enum.StrEnum):
    """Professional title 职称 of a physician (or of another health professional)."""

    CHIEF_PHYSICIAN = "chief_physician"  # 主任医师
    ASSOCIATE_CHIEF_PHYSICIAN = "associate_chief_physician"  # 副主任医师
    ATTENDING_PHYSICIAN = "attending_physician"  # 主治医师
    RESIDENT_PHYSICIAN = "resident_physician"  # 住院医师
    VILLAGE_DOCTOR = "village_doctor"  # 乡村医生
    NURSE = "nurse"  # 护士
    TECHNICIAN = "technician"  # 技师


class PractitionerRoleKind(enum.StrEnum):
    """What a practitioner does at an institution (home or elsewhere)."""

    STAFF = "staff"  # 在编/执业
    DEPARTMENT_DIRECTOR = "department_director"  # 科室主任
    EXECUTIVE_DIRECTOR = "executive_director"  # 执行主任 (双主任制)
    STATIONED_EXPERT = "stationed_expert"  # 派驻专家
    VISITING_EXPERT = "visiting_expert"  # 出诊专家
    REMOTE_CONSULTANT = "remote_consultant"  # 远程会诊专家
    TRAINEE = "trainee"  # 进修
    EXECUTIVE_PRESIDENT = "executive_president"  # 执行院长


class AgreementType(enum.StrEnum):
    """Collaboration agreement types of PRODUCT.md capability 1."""

    TRUSTEESHIP = "trusteeship"  # 托管
    CITY_GROUP = "city_group"  # 城市医疗集团 (医联体)
    COUNTY_COMMUNITY = "county_community"  # 县域医共体
    SPECIALTY_ALLIANCE = "specialty_alliance"  # 专科联盟
    TELEMEDICINE_NETWORK = "telemedicine_network"  # 远程医疗协作网
    CO_BUILT_DEPARTMENT = "co_built_department"  # 共建科室
    EXPERT_WORKSTATION = "expert_workstation"  # 院士工作站 / 名医工作室
    REGIONAL_MEDICAL_CENTRE = "regional_medical_centre"  # 国家区域医疗中心
    RESEARCH_PROJECT = "research_project"  # 科研合作项目
    NEW_TECHNIQUE = "new_technique"  # 新技术新项目


CONSORTIUM_TYPES = frozenset(
    {
        AgreementType.CITY_GROUP,
        AgreementType.COUNTY_COMMUNITY,
        AgreementType.SPECIALTY_ALLIANCE,
        AgreementType.TELEMEDICINE_NETWORK,
    }
)


class AgreementStatus(enum.StrEnum):
    """Life of an agreement."""

    DRAFT = "draft"  # 拟定
    ACTIVE = "active"  # 生效
    SUSPENDED = "suspended"  # 暂停
    ENDED = "ended"  # 终止


class PartyRole(enum.StrEnum):
    """Side an institution takes in an agreement."""

    LEAD = "lead"  # 牵头/输出方
    MEMBER = "member"  # 成员/承接方


class Region(Base):
    """A GB/T 2260 administrative division (province, city or county)."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    level: Mapped[RegionLevel] = mapped_column(str_enum(RegionLevel, 16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    # Approximate centre, for distances between places (the advisor uses it).
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]

    __table_args__ = (CheckConstraint("length(code) = 6", name="code_six_digits"),)


class Institution(Base):
    """A hospital, health centre or clinic of the network."""

    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(256), default="")
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    grade: Mapped[InstitutionGrade] = mapped_column(str_enum(InstitutionGrade, 8))
    kind: Mapped[InstitutionKind] = mapped_column(str_enum(InstitutionKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), index=True)
    beds: Mapped[int] = mapped_column(Integer, default=0)
    address: Mapped[str] = mapped_column(String(256), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    region: Mapped[Region] = relationship(lazy="joined")
    parent: Mapped[Institution | None] = relationship(remote_side=[id], lazy="joined")
    centres: Mapped[list[InstitutionCentre]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="InstitutionCentre.centre"
    )

    __table_args__ = (
        CheckConstraint("level in (1, 2, 3)", name="level_1_to_3"),
        CheckConstraint("beds >= 0", name="beds_not_negative"),
    )

    @property
    def centre_kinds(self) -> list[EmergencyCentre]:
        """The emergency centres this institution is certified for."""
        return [row.centre for row in self.centres]


class InstitutionCentre(Base):
    """An emergency centre certification of an institution."""

    __tablename__ = "institution_centre"

    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institution.id", ondelete="CASCADE"), primary_key=True
    )
    centre: Mapped[EmergencyCentre] = mapped_column(str_enum(EmergencyCentre), primary_key=True)


class Department(Base):
    """A clinical or technical department of an institution."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    specialty: Mapped[str] = mapped_column(String(32), index=True)
    beds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("institution_id", "code"),
        CheckConstraint("beds >= 0", name="beds_not_negative"),
    )


class Practitioner(Base):
    """A physician or other health professional, with a home institution."""

    __tablename__ = "practitioner"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(8))
    title: Mapped[PractitionerTitle] = mapped_column(str_enum(PractitionerTitle))
    specialty: Mapped[str] = mapped_column(String(32), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    license_number: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship(lazy="joined")
    department: Mapped[Department | None] = relationship(lazy="joined")

    __table_args__ = (CheckConstraint("sex in ('male', 'female')", name="sex_known"),)


class PractitionerRole(Base):
    """A role a practitioner holds at an institution, often one other than their home."""

    __tablename__ = "practitioner_role"

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioner.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    role: Mapped[PractitionerRoleKind] = mapped_column(str_enum(PractitionerRoleKind))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)

    practitioner: Mapped[Practitioner] = relationship(lazy="joined")
    institution: Mapped[Institution] = relationship(lazy="joined")
    department: Mapped[Department | None] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint("end_date is null or end_date >= start_date", name="dates_ordered"),
    )


class Agreement(Base):
    """A collaboration agreement between institutions: trusteeship, consortium, and the rest."""

    __tablename__ = "agreement"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[AgreementType] = mapped_column(str_enum(AgreementType), index=True)
    title: Mapped[str] = mapped_column(String(256))
    title_en: Mapped[str] = mapped_column(String(256), default="")
    specialty: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[AgreementStatus] = mapped_column(str_enum(AgreementStatus), index=True)
    start_date: Mapped[date] = mapped_column(Date, index=True)
    end_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    parties: Mapped[list[AgreementParty]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AgreementParty.role"
    )

    __table_args__ = (
        CheckConstraint("end_date is null or end_date >= start_date", name="dates_ordered"),
    )


class AgreementParty(Base):
    """An institution (and optionally one of its departments) bound by an agreement."""

    __tablename__ = "agreement_party"

    agreement_id: Mapped[int] = mapped_column(
        ForeignKey("agreement.id", ondelete="CASCADE"), primary_key=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), primary_key=True)
    role: Mapped[PartyRole] = mapped_column(str_enum(PartyRole, 16))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))

    institution: Mapped[Institution] = relationship(lazy="joined")
    department: Mapped[Department | None] = relationship(lazy="joined")
