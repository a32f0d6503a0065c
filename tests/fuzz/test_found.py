"""What the fuzzers found, pinned down: each was a server error on one backend or both.

- ids, offsets and body numbers beyond 64 bits overflowed the database driver, and on
  PostgreSQL already beyond 2**31 - 1 (every integer column there is an INTEGER);
- a NUL character in any text (a form, JSON, an URL, an HL7 field, a CSV cell) made
  PostgreSQL's driver fail, and with it the audit record of the refusal.

Now each is a 4xx (or an HL7 AE) saying what is wrong, and nothing is written.
"""

from __future__ import annotations

import pytest

from tests.fuzz.conftest import World, is_clear_error
from tests.fuzz.test_intake import A04, HL7, ack_fields

HUGE = 263651958173103546808255119360  # beyond any database integer
BEYOND_INT4 = 6099678776  # fits SQLite's integers, not PostgreSQL's INTEGER columns


@pytest.mark.parametrize("method, url, body", [
    ("get", f"/api/v1/registry/institutions/{HUGE}", None),
    ("get", f"/api/v1/referrals/{HUGE}/documents/1", None),
    ("get", f"/api/v1/registry/agreements/{BEYOND_INT4}", None),
    ("get", f"/api/v1/patients?institution_id={BEYOND_INT4}", None),
    ("get", f"/api/v1/consultations/counts?institution_id={BEYOND_INT4}", None),
    ("get", f"/fhir/r4/Organization/{BEYOND_INT4}", None),
    ("get", f"/api/v1/audit/{BEYOND_INT4}", None),
    ("post", "/api/v1/recognition/check", {"ordering_institution_id": 1,
                                           "person_id": -BEYOND_INT4, "item_codes": ["I"]}),
    ("delete", f"/api/v1/patients/1/shares/{HUGE}", None),
    ("get", f"/api/v1/consultations?offset={HUGE}", None),
    ("get", f"/api/v1/analytics/volumes?institution_id={HUGE}", None),
    ("get", f"/fhir/r4/Patient?_offset={HUGE}", None),
    ("post", "/api/v1/scheduling/appointments", {"slot_id": HUGE, "person_id": 1}),
    ("post", "/api/v1/consultations/1/attendance", {"practitioner_ids": [1, BEYOND_INT4]}),
    ("post", "/api/v1/registry/regions", {"code": "130603", "name": "北\x00市",
                                          "level": "county", "parent_code": "130600"}),
    ("get", "/api/v1/registry/regions/13%0060", None),
    ("get", "/api/v1/patients?q=%00", None),
    ("get", "/fhir/r4/Patient?name=%00", None),
    ("post", f"/api/v1/referrals/{HUGE}/accept", {}),  # a refused write is audited
])
def test_values_no_database_can_take_are_refused_clearly(
    world: World, method: str, url: str, body: object
) -> None:
    before = world.counts()
    extra = {} if body is None else {"json": body}
    response = world.client.request(method.upper(), url, headers=world.admin, **extra)

    assert 400 <= response.status_code < 500, response.text
    assert is_clear_error(response.json()), response.text
    assert world.counts() == before


def test_a_nul_in_a_sign_in_or_an_hl7_message_is_refused_clearly(world: World) -> None:
    before = world.counts()
    signin = world.client.post("/api/v1/auth/token",
                               data={"username": "fz\x00admin", "password": "x"})
    message = A04.replace("FZ0001", "FZ\x000001").replace("宋^秀兰", "宋^\x00秀兰")
    ack = world.client.post("/hl7/v2", content=message.encode(), headers=world.his | HL7)

    assert signin.status_code in (401, 422) and is_clear_error(signin.json()), signin.text
    assert ack.status_code == 200
    fields = ack_fields(ack.text)
    assert fields["MSA"][1] == "AE" and "NUL" in fields["ERR"][8], ack.text
    assert world.counts() == before
