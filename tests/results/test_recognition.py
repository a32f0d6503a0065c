"""The recognition check, worked through for 宋桂兰: a Huailai CT 12 days old is recognised at
PKU People's Hospital; her blood count is too old; a Baoding CT was performed before Baoding
was qualified; Baoding's city-only lipids do not reach Beijing; a corrected report supersedes
the first; a conclusion alone is never recognised. Re-tests need a reason; accepting a result
books its price in the savings ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from tests.results.conftest import TODAY, Network, days_ago
from yilian.auth.service import get_by_username, principal_for
from yilian.errors import Conflict, InvalidInput
from yilian.results import recognition
from yilian.results import service as results
from yilian.results.models import (
    Decision,
    HrScope,
    RecognitionDecision,
    Refusal,
    ReportStatus,
    RetestReason,
)
from yilian.results.recognition import Place
from yilian.results.schemas import CheckRequest, DecisionCreate, ItemCheck, ReportCreate

CT = "JJJ-E010"  # 胸部CT平扫, valid 30 days
CBC = "JJJ-L001"  # 血常规, valid 7 days
LIPIDS = "JJJ-L008"  # 血脂四项, valid 30 days
HGB = {"code": "718-7", "code_system": "LN", "name": "血红蛋白", "value": "128", "unit": "g/L",
       "reference_range": "115-150", "abnormal_flag": "N"}
CHOL = {"code": "2093-3", "code_system": "LN", "name": "总胆固醇", "value": "5.9",
        "unit": "mmol/L", "reference_range": "<5.2", "abnormal_flag": "H"}


def send(session: Session, network: Network, item: str, performed: datetime, *,
         at: str = "campus", accession: str = "", status: ReportStatus = ReportStatus.FINAL,
         images: bool = True, conclusion: str = "双肺未见明显异常") -> int:
    """A result performed by one of the network's institutions."""
    institution = getattr(network, at)
    values = [CHOL] if item == LIPIDS else [HGB] if item.startswith("JJJ-L") else []
    studies = ([{"study_uid": "1.2.156.112605.1." + str(performed.toordinal()),
                 "viewer_url": "https://pacs.example/viewer?study=1"}]
               if images and not values else [])
    return results.create_report(session, None, data=ReportCreate.model_validate({
        "person_id": network.song.id, "institution_id": institution.id, "item_code": item,
        "accession": accession, "performed_at": performed, "status": status,
        "conclusion": conclusion, "observations": values, "imaging_studies": studies,
    })).id


def check(session: Session, network: Network, *codes: str) -> dict[str, ItemCheck]:
    answer = results.check(session, None, data=CheckRequest(
        person_id=network.song.id, ordering_institution_id=network.pkuph.id,
        item_codes=list(codes), at=TODAY))
    return {item.item_code: item for item in answer.items}


def test_the_worked_examples_of_recognition(session: Session, network: Network) -> None:
    huailai_ct = send(session, network, CT, days_ago(12), accession="CT-1")
    send(session, network, CBC, days_ago(10))
    early_baoding_ct = send(session, network, CT, days_ago(8), at="baoding")
    send(session, network, LIPIDS, days_ago(3), at="baoding")
    session.commit()

    answers = check(session, network, CT, CBC, LIPIDS, "JJJ-E020")

    ct = answers[CT]
    assert [r.report_id for r in ct.recognisable] == [huailai_ct]
    assert ct.explanation_en == "recognisable, 12 days old, valid 30"
    assert (ct.recognisable[0].days_left, ct.recognisable[0].hr_scope) == (18, HrScope.CONSORTIUM)
    assert ct.recognisable[0].conclusion == "双肺未见明显异常"  # shown, never judged
    # Baoding performed its CT 8 days ago, three days before its CT qualification began.
    assert [(r.report_id, r.refusal) for r in ct.refused] == [
        (early_baoding_ct, Refusal.NOT_QUALIFIED)]

    assert answers[CBC].recognisable == []
    assert answers[CBC].refusal is Refusal.EXPIRED
    assert answers[CBC].explanation_en == "expired: performed 10 days ago, validity 7 days"
    # Baoding's lipids carry 市HR: Baoding city, not Beijing.
    assert answers[LIPIDS].refusal is Refusal.SCOPE
    assert answers["JJJ-E020"].refusal is Refusal.NONE_HELD

    # The campus corrects its CT: the correction is recognised, the first report superseded.
    corrected = send(session, network, CT, days_ago(12), accession="CT-1",
                     status=ReportStatus.CORRECTED, conclusion="右肺上叶小结节 4mm")
    ct = check(session, network, CT)[CT]
    assert [r.report_id for r in ct.recognisable] == [corrected]
    assert (huailai_ct, Refusal.SUPERSEDED) in [(r.report_id, r.refusal) for r in ct.refused]
    # A CT report that brings only the radiologist's conclusion, without images, is not.
    send(session, network, CT, days_ago(1), accession="CT-2", images=False)
    ct = check(session, network, CT)[CT]
    assert ct.refused[0].refusal is Refusal.CONCLUSION_ONLY
    assert [r.report_id for r in ct.recognisable] == [corrected]


def test_scope_rules_follow_region_codes_and_consortia() -> None:
    beijing = Place(1, "110102", frozenset())
    huailai = Place(2, "130730", frozenset({7}))
    zhangjiakou = Place(3, "130700", frozenset({7}))
    baoding = Place(4, "130602", frozenset())
    assert recognition.scope_covers(scope=HrScope.NATIONAL, performer=baoding, ordering=beijing)
    assert recognition.scope_covers(scope=HrScope.PROVINCE, performer=baoding, ordering=huailai)
    assert not recognition.scope_covers(scope=HrScope.PROVINCE, performer=baoding,
                                        ordering=beijing)
    assert recognition.scope_covers(scope=HrScope.CITY, performer=huailai, ordering=zhangjiakou)
    assert not recognition.scope_covers(scope=HrScope.CITY, performer=huailai, ordering=baoding)
    assert recognition.scope_covers(scope=HrScope.CONSORTIUM, performer=huailai,
                                    ordering=zhangjiakou)
    assert not recognition.scope_covers(scope=HrScope.CONSORTIUM, performer=huailai,
                                        ordering=beijing)
    # Day counting is on Beijing's calendar: 23:30 on the 1st to 00:30 on the 2nd is a day.
    late = datetime(2026, 11, 1, 15, 30, tzinfo=UTC)
    assert recognition.age_in_days(performed_at=late, at=datetime(2026, 11, 1, 16, 30,
                                                                  tzinfo=UTC)) == 1
    assert not recognition.validity_expired(performed_at=late, at=late, validity_days=0)
    assert results.month_of(late) == "2026-11"
    assert date(2026, 11, 2) == recognition.local_day(datetime(2026, 11, 1, 16, tzinfo=UTC))


def test_a_retest_needs_a_reason_and_an_accepted_result_is_saved(
    session: Session, network: Network
) -> None:
    ct = send(session, network, CT, days_ago(12))
    send(session, network, CBC, days_ago(10))
    session.commit()
    doctor = principal_for(session, user=get_by_username(session, username="pk_doctor"))

    def decide(item: str, decision: Decision, **fields: object) -> RecognitionDecision:
        return results.decide(session, doctor, data=DecisionCreate.model_validate({
            "person_id": network.song.id, "ordering_institution_id": network.pkuph.id,
            "item_code": item, "decision": decision, **fields}))

    with pytest.raises(InvalidInput, match="A re-test needs a reason"):
        decide(CT, Decision.RETEST)
    with pytest.raises(InvalidInput, match="needs an explanation"):
        decide(CT, Decision.RETEST, reason=RetestReason.OTHER, reason_text="  ")
    # An expired blood count cannot be accepted: the refusal says why.
    with pytest.raises(Conflict, match="expired: performed 10 days ago, validity 7 days"):
        decide(CBC, Decision.ACCEPTED, report_id=ct)
    retest = decide(CT, Decision.RETEST, reason=RetestReason.CRITICAL_CARE)
    assert (retest.reason, retest.report_id) == (RetestReason.CRITICAL_CARE, ct)
    accepted = decide(CT, Decision.ACCEPTED, report_id=ct)
    assert accepted.report_id == ct
    session.commit()

    [total] = results.savings_totals(session, institution_ids=[network.pkuph.id])
    assert (total.item_code, total.month, total.tests_avoided, total.amount) == (
        CT, results.month_of(accepted.decided_at), 1, Decimal("300.00"),
    )
