"""Policies as versioned data: one YAML file per insured region, scheme and validity period.

A file is validated on load; any mistake is one clear error in Chinese and English naming
the file and the field. The version a slip keeps is the file's name and content hash, so a
slip always says exactly which rules it was computed under.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from yilian.errors import InvalidInput, NotFound
from yilian.patients.models import InsuranceScheme
from yilian.settlement.engine import (
    AssistanceCategory,
    Band,
    ClassBSource,
    CriticalIllness,
    CutMode,
    Filing,
    MedicalAssistance,
    OutOfRegion,
    Policy,
    region_prefix,
)

PACKAGED_POLICIES = Path(__file__).parent / "policies"
LEVELS = (1, 2, 3)
Share = Annotated[Decimal, Field(ge=0, le=1)]
Yuan = Annotated[Decimal, Field(ge=0)]


class _DecimalLoader(yaml.SafeLoader):
    """YAML with every float read as an exact Decimal (0.1 stays 0.1)."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BandFile(_Strict):
    """A band: up to an amount (absent on the last band) at a ratio."""

    up_to: Yuan | None = None
    ratio: Share


def _check_bands(bands: Sequence[BandFile], where: str) -> None:
    ends = [band.up_to for band in bands]
    if not bands or ends[-1] is not None or None in ends[:-1]:
        raise ValueError(f"{where}: only the last band is open-ended (no up_to)")
    bounded = [end for end in ends if end is not None]
    if bounded != sorted(bounded) or len(set(bounded)) != len(bounded):
        raise ValueError(f"{where}: band limits must rise")


class OutOfRegionFile(_Strict):
    """The out-of-region rule: points with ``cut`` or multiplier with ``multiplier``."""

    mode: CutMode
    cut: dict[Filing, Share] | None = None
    multiplier: dict[Filing, Share] | None = None

    @model_validator(mode="after")
    def _one_table(self) -> OutOfRegionFile:
        table = self.cut if self.mode is CutMode.POINTS else self.multiplier
        other = self.multiplier if self.mode is CutMode.POINTS else self.cut
        key = "cut" if self.mode is CutMode.POINTS else "multiplier"
        if table is None or other is not None:
            raise ValueError(f"mode {self.mode.value} needs exactly the table '{key}'")
        missing = [filing.value for filing in Filing if filing not in table]
        if missing:
            raise ValueError(f"{key} lacks filing status {', '.join(missing)}")
        return self


class CriticalIllnessFile(_Strict):
    """大病保险: threshold, bands on the year's in-scope self-pay, cap."""

    threshold: Yuan
    bands: list[BandFile]
    cap: Yuan

    @model_validator(mode="after")
    def _bands_rise(self) -> CriticalIllnessFile:
        _check_bands(self.bands, "critical_illness.bands")
        if self.bands[0].up_to is not None and self.bands[0].up_to <= self.threshold:
            raise ValueError("critical_illness.bands: the first band must end above threshold")
        return self


class MedicalAssistanceFile(_Strict):
    """医疗救助: a share per assistance category of the in-scope self-pay left after the
    pooled and critical-illness funds, and the assistance fund's annual cap per person."""

    ratio: dict[AssistanceCategory, Share]
    annual_cap: Yuan

    @model_validator(mode="after")
    def _categories(self) -> MedicalAssistanceFile:
        if not self.ratio:
            raise ValueError("medical_assistance.ratio needs at least one assistance category "
                             "(extreme_poverty, subsistence)")
        if AssistanceCategory.NONE in self.ratio:
            raise ValueError("medical_assistance.ratio: 'none' is not an assistance category")
        return self


class PolicyFile(_Strict):
    """The YAML format of a policy (see the README for every key)."""

    insured_region: Annotated[str, Field(pattern=r"^\d{6}$")]
    scheme: InsuranceScheme
    valid_from: date
    valid_to: date
    name: str = ""
    version: str = ""
    deductible: dict[int, Yuan]
    ratio: dict[int, Share]
    annual_cap: Yuan
    class_b_self_pay_first: Share
    class_b_source: ClassBSource = ClassBSource.CATALOGUE
    out_of_region: OutOfRegionFile
    ratio_bands: dict[int, list[BandFile]] = Field(default_factory=dict)
    later_admission_deductible: dict[int, Yuan] = Field(default_factory=dict)
    consortium_continuous_deductible: bool = False
    critical_illness: CriticalIllnessFile | None = None
    personal_account: bool = False
    medical_assistance: MedicalAssistanceFile | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PolicyFile:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        for key in ("deductible", "ratio"):
            table: dict[int, Any] = getattr(self, key)
            if sorted(table) != list(LEVELS):
                raise ValueError(f"{key} needs exactly the institution levels 1, 2, 3")
        for key in ("ratio_bands", "later_admission_deductible"):
            table = getattr(self, key)
            if not set(table) <= set(LEVELS):
                raise ValueError(f"{key}: institution levels are 1, 2, 3")
        for level, bands in self.ratio_bands.items():
            _check_bands(bands, f"ratio_bands.{level}")
        return self

    def to_policy(self, version: str) -> Policy:
        """The engine's form of the policy."""
        rule = self.out_of_region
        adjustment = rule.cut if rule.mode is CutMode.POINTS else rule.multiplier
        layer = self.critical_illness
        return Policy(
            insured_region=self.insured_region,
            scheme=self.scheme,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            deductible=dict(self.deductible),
            ratio=dict(self.ratio),
            annual_cap=self.annual_cap,
            class_b_self_pay_first=self.class_b_self_pay_first,
            out_of_region=OutOfRegion(rule.mode, dict(adjustment or {})),
            version=version,
            name=self.name,
            class_b_source=self.class_b_source,
            ratio_bands={level: tuple(Band(b.up_to, b.ratio) for b in bands)
                         for level, bands in self.ratio_bands.items()},
            later_admission_deductible=dict(self.later_admission_deductible),
            consortium_continuous_deductible=self.consortium_continuous_deductible,
            critical_illness=None if layer is None else CriticalIllness(
                layer.threshold, tuple(Band(b.up_to, b.ratio) for b in layer.bands), layer.cap
            ),
            personal_account=self.personal_account,
            medical_assistance=None if self.medical_assistance is None else MedicalAssistance(
                dict(self.medical_assistance.ratio), self.medical_assistance.annual_cap),
        )


def _first_error(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(file)"
    return where, str(first["msg"]).removeprefix("Value error, ")


def parse_policy(text: str, *, source: str) -> Policy:
    """A policy from YAML text; InvalidInput naming the field when anything is wrong."""
    try:
        raw = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise InvalidInput("policy_invalid", f"医保政策文件 {source} 不是有效的 YAML：{exc}",
                           f"Policy file {source} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInput("policy_invalid", f"医保政策文件 {source} 应为键值表",
                           f"Policy file {source} must be a mapping of keys")
    try:
        parsed = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        where, message = _first_error(exc)
        raise InvalidInput(
            "policy_invalid", f"医保政策文件 {source} 字段 {where} 有误：{message}",
            f"Policy file {source}, field {where}: {message}",
        ) from None
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return parsed.to_policy(f"{parsed.version or Path(source).stem}@{digest}")


def load_policy(path: Path) -> Policy:
    """A policy from a YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("policy_unreadable", f"无法读取医保政策文件 {path}：{exc.strerror}",
                           f"Cannot read policy file {path}: {exc.strerror}") from None
    return parse_policy(text, source=path.name)


@functools.cache
def load_policies(folder: Path = PACKAGED_POLICIES) -> tuple[Policy, ...]:
    """Every policy in a folder; overlapping validity for one region and scheme is an error."""
    policies = tuple(load_policy(path) for path in sorted(folder.glob("*.yaml")))
    for index, one in enumerate(policies):
        for other in policies[index + 1:]:
            if (one.insured_region, one.scheme) == (other.insured_region, other.scheme) and (
                one.valid_from <= other.valid_to and other.valid_from <= one.valid_to
            ):
                raise InvalidInput(
                    "policy_overlap",
                    f"医保政策 {one.version} 与 {other.version} 的有效期重叠",
                    f"Policies {one.version} and {other.version} overlap in validity",
                )
    return policies


def find_policy(
    policies: Sequence[Policy], *, insured_region: str, scheme: InsuranceScheme, on_date: date
) -> Policy:
    """The most specific policy covering the insured region and scheme on the date."""
    fitting = [p for p in policies
               if p.covers(insured_region=insured_region, scheme=scheme, on_date=on_date)]
    if not fitting:
        raise NotFound("医保政策", "Insurance policy", f"{insured_region}/{scheme.value}/{on_date}")
    return max(fitting, key=lambda p: len(region_prefix(p.insured_region)))


def policies_by_version(policies: Sequence[Policy]) -> Mapping[str, Policy]:
    """Policies keyed by version."""
    return {policy.version: policy for policy in policies}
