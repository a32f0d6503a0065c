"""Display names of the patient index's enums, and plain words for the linkage evidence.

Not registered with ``i18n.register_labels``: that table is keyed by the member itself, and
string enums with equal values are equal keys (``LinkMethod.MERGED == ReviewStatus.MERGED
== "merged"``; ``PersonStatus.ACTIVE == AgreementStatus.ACTIVE``), so one name would
overwrite another. :func:`name_of` looks a member up by its enum class and value instead.
Every member of every enum listed here must have a name; a test checks it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from yilian.patients.models import (
    InsuranceScheme,
    LinkEventKind,
    LinkMethod,
    PersonStatus,
    RecordFlag,
    ReviewStatus,
    Sex,
    SharingReason,
)

SEXES: Final[Mapping[Sex, tuple[str, str]]] = {
    Sex.MALE: ("男", "Male"),
    Sex.FEMALE: ("女", "Female"),
    Sex.OTHER: ("其他", "Other"),
    Sex.UNKNOWN: ("未知", "Unknown"),
}

INSURANCE_SCHEMES: Final[Mapping[InsuranceScheme, tuple[str, str]]] = {
    InsuranceScheme.EMPLOYEE: ("职工医保", "Employee insurance"),
    InsuranceScheme.RESIDENT: ("城乡居民医保", "Resident insurance"),
}

RECORD_FLAGS: Final[Mapping[RecordFlag, tuple[str, str]]] = {
    RecordFlag.BIRTH_DATE_DIFFERS: ("出生日期不符", "Birth date differs"),
    RecordFlag.SEX_DIFFERS: ("性别不符", "Sex differs"),
    RecordFlag.REGION_UNKNOWN: ("地区码未知", "Unknown region"),
    RecordFlag.LEGACY_ID: ("15 位旧证号", "Old 15-digit ID"),
}

# What a clerk should make of each flag, in plain words.
FLAG_EXPLANATIONS: Final[Mapping[RecordFlag, tuple[str, str]]] = {
    RecordFlag.BIRTH_DATE_DIFFERS: (
        "登记的出生日期与身份证号中的出生日期不一致，请核对证件。",
        "The birth date entered is not the one in the resident ID; check the ID card.",
    ),
    RecordFlag.SEX_DIFFERS: (
        "登记的性别与身份证号第 17 位表示的性别不一致，请核对证件。",
        "The sex entered is not the one the resident ID's 17th digit gives; check the ID card.",
    ),
    RecordFlag.REGION_UNKNOWN: (
        "身份证号前 6 位的地区码不在行政区划表中，可能是已撤销的旧地区或录入错误。",
        "The ID's first six digits are no region in the table: a region since abolished, "
        "or a typing error.",
    ),
    RecordFlag.LEGACY_ID: (
        "这是 15 位旧身份证号，已按规则升为 18 位比对；请在患者下次就诊时登记新证号。",
        "An old 15-digit resident ID, compared as its 18-digit form; record the new ID at "
        "the patient's next visit.",
    ),
}

LINK_METHODS: Final[Mapping[LinkMethod, tuple[str, str]]] = {
    LinkMethod.RESIDENT_ID: ("身份证号一致", "Same resident ID"),
    LinkMethod.PROBABILISTIC: ("概率匹配", "Probabilistic match"),
    LinkMethod.NEW_PERSON: ("新建患者", "New patient"),
    LinkMethod.REVIEWED: ("人工审核", "Reviewed"),
    LinkMethod.MERGED: ("合并", "Merged"),
    LinkMethod.UNMERGED: ("撤销合并", "Merge undone"),
    LinkMethod.DETACHED: ("已移出", "Detached"),
}

PERSON_STATUSES: Final[Mapping[PersonStatus, tuple[str, str]]] = {
    PersonStatus.ACTIVE: ("在用", "Active"),
    PersonStatus.MERGED: ("已合并", "Merged"),
}

REVIEW_STATUSES: Final[Mapping[ReviewStatus, tuple[str, str]]] = {
    ReviewStatus.OPEN: ("待审核", "Open"),
    ReviewStatus.MERGED: ("已合并", "Merged"),
    ReviewStatus.DISTINCT: ("不是同一人", "Different people"),
    ReviewStatus.SUPERSEDED: ("已失效", "Superseded"),
}

LINK_EVENT_KINDS: Final[Mapping[LinkEventKind, tuple[str, str]]] = {
    LinkEventKind.LINKED: ("关联", "Linked"),
    LinkEventKind.RELINKED: ("重新关联", "Relinked"),
    LinkEventKind.REVIEW_OPENED: ("进入审核", "Sent to review"),
    LinkEventKind.REVIEW_DISTINCT: ("审核为不同人", "Reviewed: different people"),
    LinkEventKind.MERGED: ("合并", "Merged"),
    LinkEventKind.UNMERGED: ("撤销合并", "Merge undone"),
    LinkEventKind.DETACHED: ("移出", "Detached"),
}

SHARING_REASONS: Final[Mapping[SharingReason, tuple[str, str]]] = {
    SharingReason.CONSENT: ("患者授权", "Patient consent"),
    SharingReason.REFERRAL: ("转诊", "Referral"),
    SharingReason.CONSULTATION: ("会诊", "Consultation"),
}

ALL_LABELS: Final[tuple[Mapping[Any, tuple[str, str]], ...]] = (
    SEXES,
    INSURANCE_SCHEMES,
    RECORD_FLAGS,
    LINK_METHODS,
    PERSON_STATUSES,
    REVIEW_STATUSES,
    LINK_EVENT_KINDS,
    SHARING_REASONS,
)

_NAMES: Final[dict[tuple[type, str], tuple[str, str]]] = {
    (type(member), member.value): names
    for table in ALL_LABELS
    for member, names in table.items()
}


def name_of(member: enum.Enum | None, language: str) -> str:
    """The display name of a patient-index enum member in the reader's language."""
    if member is None:
        return ""
    names = _NAMES.get((type(member), member.value))
    if names is None:
        return str(member.value)
    return names[1] if language == "en" else names[0]


# ---------------------------------------------------------------- linkage evidence

# The fields the linkage model compares (its comparisons' output column names).
COMPARISONS: Final[Mapping[str, tuple[str, str]]] = {
    "name": ("姓名", "Name"),
    "sex": ("性别", "Sex"),
    "birth_date": ("出生日期", "Birth date"),
    "phone": ("手机号", "Phone"),
    "address": ("地址", "Address"),
    "id_key": ("身份证号", "Resident ID"),
}

# The model's level labels (Splink's label_for_charts), in plain words.
_LEVELS: Final[Mapping[str, tuple[str, str]]] = {
    "same characters": ("汉字相同", "Same characters"),
    "same pinyin": ("拼音相同", "Same pinyin"),
    "same surname": ("仅姓氏相同", "Only the surname is the same"),
    "day and month swapped": ("日、月颠倒", "Day and month swapped"),
    "one of day or month differs": ("日或月不同", "Day or month differs"),
    "All other comparisons": ("不同", "Different"),
    "missing": ("缺失", "Missing"),
}
_EXACT = re.compile(r"^Exact match on ")
_SIMILAR = re.compile(r"^(Jaro-Winkler|Damerau-Levenshtein) distance of ")
_MISSING = re.compile(r" is NULL$")


def comparison_name(comparison: str, language: str) -> str:
    """The field a comparison looks at, in the reader's language."""
    names = COMPARISONS.get(comparison)
    if names is None:
        return comparison
    return names[1] if language == "en" else names[0]


def evidence_level(label: str, language: str) -> str:
    """How a field compared, in plain words (the model's own label when none is known)."""
    names = _LEVELS.get(label)
    if names is None and _EXACT.search(label):
        names = ("相同", "Same")
    elif names is None and _SIMILAR.search(label):
        names = ("相近", "Similar")
    elif names is None and _MISSING.search(label):
        names = ("缺失", "Missing")
    if names is None:
        return label
    return names[1] if language == "en" else names[0]


def flag_explanation(flag: str, language: str) -> str:
    """What a record flag means and what to do about it."""
    try:
        names = FLAG_EXPLANATIONS[RecordFlag(flag)]
    except (KeyError, ValueError):
        return ""
    return names[1] if language == "en" else names[0]


def flag_name(flag: str, language: str) -> str:
    """The short name of a record flag (the flag itself when unknown)."""
    try:
        return name_of(RecordFlag(flag), language)
    except ValueError:
        return flag


def event_reason(reason: str, language: str) -> str:
    """A link event's reason; automatic links store how they linked, shown in words."""
    try:
        return name_of(LinkMethod(reason), language)
    except ValueError:
        return reason


def percent(probability: float | None) -> str:
    """A match probability as a percentage with one decimal."""
    return "" if probability is None else f"{probability * 100:.1f}%"


def template_helpers(language: str) -> dict[str, Callable[..., str]]:
    """The patient pages' display functions, in the reader's language."""
    return {
        "name_of": lambda member: name_of(member, language),
        "flag_name": lambda flag: flag_name(flag, language),
        "flag_explanation": lambda flag: flag_explanation(flag, language),
        "comparison_name": lambda comparison: comparison_name(comparison, language),
        "evidence_level": lambda label: evidence_level(label, language),
        "event_reason": lambda reason: event_reason(reason, language),
        "percent": percent,
    }
