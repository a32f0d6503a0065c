"""Settlement pages through the app: form, preview, settle, slip, reversal, pay, clearing."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.settlement.setup import SONG_LINES, build
from tests.web.conftest import BROWSER_ACCEPT, csrf_of, sign_in
from yilian.config import Settings
from yilian.fhir.dates import CHINA_STANDARD_TIME


def _form(csrf: str, key: str) -> dict[str, object]:
    return {
        "csrf_token": csrf, "idempotency_key": key, "local_id": "HL0001",
        "admission_date": "2026-05-10", "discharge_date": "2026-05-20", "filing": "",
        "code": [line["code"] for line in SONG_LINES] + ["", ""],
        "qty": [str(line["qty"]) for line in SONG_LINES] + ["", ""],
        "unit_price": [str(line["unit_price"]) for line in SONG_LINES] + ["", ""],
    }


def test_clerk_previews_settles_reverses_and_the_patient_pays(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as clerk:
        sign_in(clerk, net.clerk)
        form = clerk.get("/settlement/new")
        assert form.status_code == 200 and "出院结算" in form.text
        data = _form(csrf_of(form.text), "WEB-TEST-0001")
        preview = clerk.post("/settlement/preview", data=data, headers={"HX-Request": "true"})
        assert "结算单预览" in preview.text and "310.40" in preview.text
        unknown = clerk.post("/settlement/preview", data={**data, "local_id": "NOPE"})
        assert "本院无此患者编号" in unknown.text
        settled = clerk.post("/settlement/new", data=data, follow_redirects=False)
        assert settled.status_code == 303
        slip_url = settled.headers["location"]
        again = clerk.post("/settlement/new", data=data, follow_redirects=False)
        assert again.headers["location"] == slip_url  # a double submit: the same settlement
        slip = clerk.get(slip_url)
        assert "住院费用异地就医直接结算单" in slip.text and "939.60" in slip.text
        assert clerk.get("/settlement").status_code == 200
        clearing = clerk.get("/settlement/clearing?month=2026-05")
        assert "310.40" in clearing.text
        refused = clerk.post(f"{slip_url}/reverse", data={"csrf_token": csrf_of(slip.text),
                                                          "reason": ""})
        assert refused.status_code == 422 and "请选择冲正原因" in refused.text
        second = clerk.post("/settlement/new", data=_form(csrf_of(form.text), "WEB-TEST-0002"),
                            follow_redirects=False).headers["location"]
        reversed_page = clerk.post(f"{second}/reverse", data={
            "csrf_token": csrf_of(slip.text), "reason": "billing_error", "note": "重复结算"})
        assert "已冲正" in reversed_page.text and "重复结算" in reversed_page.text
        # Reversed this month, settled in May: an adjustment line in this month's clearing.
        now_month = f"{datetime.now(CHINA_STANDARD_TIME):%Y-%m}"
        adjusted = clerk.get(f"/settlement/clearing?month={now_month}")
        # the second admission: (888 − 250) × 80 % = 510.40 taken back
        assert "冲正调整（原 2026-05 清算）" in adjusted.text and "-510.40" in adjusted.text
    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as song:
        sign_in(song, net.patient)
        mine = song.get("/settlement/mine")
        assert "939.60" in mine.text
        page = song.get(slip_url)
        paid = song.post(f"{slip_url}/pay", data={"csrf_token": csrf_of(page.text)})
        assert paid.status_code == 200 and "收据" in paid.text
        assert song.get("/settlement/new").status_code in (403, 404)
