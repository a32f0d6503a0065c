"""The region's recognition catalogue: the shipped Jing-Jin-Ji file loads; a file with bad
rows is refused whole, each bad row named by its line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from yilian.errors import InvalidInput
from yilian.results import catalogue
from yilian.results import service as results
from yilian.results.models import HrScope, ItemCategory

HEADER = ",".join(catalogue.COLUMNS)


def test_the_jingjinji_catalogue_and_a_bad_file(session: Session) -> None:
    assert catalogue.load_jingjinji(session) >= 50
    items = {item.code: item for item in results.list_items(session)}
    ct = items["JJJ-E010"]
    assert (ct.category, ct.modality, ct.validity_days, ct.price) == (
        ItemCategory.EXAM, "CT", 30, Decimal("300.00"))
    assert HrScope.NATIONAL in ct.scope_set
    assert items["JJJ-L011"].loinc == "4548-4"  # HbA1c
    labs = [item for item in items.values() if item.category is ItemCategory.LAB]
    assert len(labs) >= 25

    bad = "\n".join([
        HEADER,
        "JJJ-L001,血常规,CBC,lab,HEMATOLOGY,58410-2,全血,,,3,25.00,national",  # fine: update
        "JJJ-X1,某检查,Exam,exam,CT,,,,,30,100.00,national",  # exam without modality
        "JJJ-X2,某检验,Lab,lab,BIO,,血清,,,-1,abc,everywhere",  # three problems
        "JJJ-L001,血常规,CBC,lab,HEMATOLOGY,,全血,,,3,25.00,national",  # repeats line 2
    ])
    with pytest.raises(InvalidInput) as refused:
        catalogue.load_csv(session, data=bad.encode())
    assert "lines 3, 4, 5" in refused.value.en
    assert {detail["line"] for detail in refused.value.details} == {3, 4, 5}
    session.rollback()
    session.expire_all()
    item = results.get_item(session, code="JJJ-L001")
    assert item is None or item.validity_days == 7  # nothing of the bad file was stored
