"""A small network for settlement tests: a Huailai campus, a Beijing hospital, a clerk at each,
and a Huailai resident (insured 130730, resident scheme) registered at the campus."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from tests.factories import make_institution, make_user, register, resident_id_number
from yilian.auth.models import Role
from yilian.config import Settings

DISCHARGE = date(2026, 5, 20)

# Song's bill at the Huailai campus (level 2), Hebei catalogue, Zhangjiakou resident policy:
#   bed 10 × 50.00 = 500.00 甲类 in scope
#   heparin 10 × 30.00 = 300.00 乙类: limit 28.00 → 20.00 over; 15 % of 280.00 = 42.00 first
#   CT 1 × 150.00 甲类 in scope; special-needs consultation 300.00 丙类 self-paid
# in scope 888.00; deductible 500; (888 − 500) × 80 % = 310.40 from the pooled fund.
SONG_LINES = [
    {"code": "110900001", "qty": 10, "unit_price": "50.00"},
    {"code": "XB01ABA035", "qty": 10, "unit_price": 30},
    {"code": "210300001", "qty": 1, "unit_price": 150.0},
    {"code": "910000001", "qty": 1, "unit_price": "300"},
]

# General anaesthesia 30 × 1200.00 甲类: 36,000 in scope.
BIG_LINE = {"code": "330100001", "qty": 30, "unit_price": "1200.00"}


@dataclass
class Network:
    """Ids the settlement tests need."""

    huailai_id: int
    beijing_id: int
    person_id: int
    clerk: str
    beijing_clerk: str
    patient: str


def build(session: Session, settings: Settings) -> Network:
    """Create the network and commit it."""
    huailai = make_institution(session, code="HL-CAMPUS", region_code="130730", level=2)
    beijing = make_institution(session, code="BJ-HOSP", region_code="110102", level=3)
    song = register(session, settings, huailai, "HL0001", name="宋桂兰", sex="female",
                    birth_date="1962-03-14",
                    id_number=resident_id_number("130730", date(1962, 3, 14), 24, male=False),
                    insured_region_code="130730", insurance_scheme="resident")
    clerk = make_user(session, role=Role.INSURANCE_CLERK, institution=huailai)
    beijing_clerk = make_user(session, role=Role.INSURANCE_CLERK, institution=beijing)
    patient = make_user(session, role=Role.PATIENT, institution=huailai)
    patient.person_id = song.person.id
    session.commit()
    return Network(huailai.id, beijing.id, song.person.id, clerk.username,
                   beijing_clerk.username, patient.username)


def settle_body(network: Network, key: str, lines: list[dict[str, Any]] | None = None,
                institution_id: int | None = None) -> dict[str, Any]:
    """A settlement request for Song's bill."""
    return {
        "idempotency_key": key, "person_id": network.person_id,
        "institution_id": institution_id or network.huailai_id,
        "admission_date": "2026-05-10", "discharge_date": DISCHARGE.isoformat(),
        "lines": lines or SONG_LINES,
    }


def post_json(base_url: str, path: str, body: object, headers: dict[str, str]) -> tuple[int, Any]:
    """POST JSON to a live server over a fresh loopback connection."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("POST", path, json.dumps(body),
                           {"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()
