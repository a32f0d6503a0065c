"""The curated demo tables hold together, and the small generation rules do what they say."""

from __future__ import annotations

import random
from datetime import date

from yilian.demo import tables
from yilian.demo.network import share_beds
from yilian.demo.staff import STAFFING_BY_PROFILE, add_months, licence_number
from yilian.registry.models import AgreementType, PractitionerTitle
from yilian.registry.service import region_prefix


def test_region_codes_are_the_gb_t_2260_ones_the_seeds_need() -> None:
    regions = {row["code"]: row for row in tables.read("regions.csv")}

    named = {code: row["name"] for code, row in regions.items()}
    assert {
        "110000": "北京市", "110101": "东城区", "110102": "西城区", "110106": "丰台区",
        "110108": "海淀区", "120000": "天津市", "130000": "河北省", "130100": "石家庄市",
        "130600": "保定市", "130602": "竞秀区", "130606": "莲池区", "130700": "张家口市",
        "130730": "怀来县",
    }.items() <= named.items()
    for code, row in regions.items():
        parent = row["parent_code"]
        assert not parent or code.startswith(region_prefix(parent)), code
        assert 18 < float(row["latitude"]) < 54 and 73 < float(row["longitude"]) < 135, code


def test_institutions_refer_to_known_regions_parents_and_department_profiles() -> None:
    regions = {row["code"] for row in tables.read("regions.csv")}
    profiles = {row["profile"] for row in tables.read("departments.csv")}
    seen: set[str] = set()
    for row in tables.read("institutions.csv"):
        assert row["region_code"] in regions, row["code"]
        assert row["profile"] in profiles and row["profile"] in STAFFING_BY_PROFILE
        assert row["staffing"] in {"deep", "full", "none"}
        assert not row["parent_code"] or row["parent_code"] in seen  # parents come first
        seen.add(row["code"])


def test_agreement_parties_name_institutions_and_their_departments() -> None:
    institutions = {row["code"]: row["profile"] for row in tables.read("institutions.csv")}
    departments = {(row["profile"], row["code"]) for row in tables.read("departments.csv")}
    agreements = {row["code"]: row["type"] for row in tables.read("agreements.csv")}
    parties = dict(tables.grouped(tables.read("agreement_parties.csv"), "agreement_code"))

    assert set(parties) == set(agreements)
    assert {AgreementType(kind) for kind in agreements.values()} >= (
        set(AgreementType) - {AgreementType.NEW_TECHNIQUE})
    for code, rows in parties.items():
        assert [row["role"] for row in rows].count("lead") == 1, code
        for row in rows:
            profile = institutions[row["institution_code"]]
            assert not row["department_code"] or (profile, row["department_code"]) in departments


def test_beds_are_shared_in_proportion_to_the_template() -> None:
    assert share_beds(500, [40, 10, 0]) == [400, 100, 0]
    assert share_beds(30, [0, 0]) == [0, 0]
    assert share_beds(0, [20, 10]) == [0, 0]


def test_months_are_added_on_a_day_every_month_has() -> None:
    assert add_months(date(2022, 7, 1), 6) == date(2023, 1, 1)
    assert add_months(date(2022, 7, 1), 18) == date(2024, 1, 1)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)


def test_licence_numbers_carry_category_and_region() -> None:
    rng = random.Random(2026)
    clinical = licence_number(rng, title=PractitionerTitle.CHIEF_PHYSICIAN,
                              specialty="cardiology", profile="tertiary_general",
                              region_code="110102")
    dental = licence_number(rng, title=PractitionerTitle.ATTENDING_PHYSICIAN,
                            specialty="orthodontics", profile="stomatology",
                            region_code="130602")
    chinese_medicine = licence_number(rng, title=PractitionerTitle.RESIDENT_PHYSICIAN,
                                      specialty="cardiology", profile="tcm",
                                      region_code="130606")

    assert len(clinical) == len(dental) == len(chinese_medicine) == 15
    assert clinical.startswith("11110102")
    assert dental.startswith("13130602")
    assert chinese_medicine.startswith("12130606")
