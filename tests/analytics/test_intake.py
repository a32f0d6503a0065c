"""Encounters arrive through each channel — FHIR Encounter and Procedure, HL7 v2 ADT
A01/A03/A04 and a CSV history file — and re-sending the same encounter updates it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.analytics.conftest import HL7, Network, adt, hl7_headers, msa
from tests.factories import bearer
from yilian.analytics import history
from yilian.analytics.models import (
    Encounter,
    EncounterKind,
    EncounterStatus,
    PatientOrigin,
    VolumeKind,
    VolumeMonth,
)
from yilian.cli import app as cli


def encounter_body(network: Network, *, visit: str = "MZ0001", start: str, end: str | None = None,
                   klass: str = "AMB", status: str = "finished") -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "Encounter", "status": status,
            "identifier": [{"system": "urn:his:bchbd", "value": visit}],
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": klass},
            "subject": {"reference": f"Patient/{network.local}"},
            "serviceProvider": {"reference": f"Organization/dept-{network.paediatrics.id}"},
            "period": period}


def counts(session: Session) -> dict[tuple[str, VolumeKind], int]:
    session.expire_all()
    return {(row.month, row.kind): row.total for row in session.scalars(select(VolumeMonth))
            if row.total}


def test_fhir_encounter_and_procedure(client: TestClient, session: Session,
                                      network: Network) -> None:
    his = bearer(client, "bd_his")
    posted = client.post("/fhir/r4/Encounter", headers=his,
                         json=encounter_body(network, start="2024-03-31T23:30:00+08:00"))
    assert posted.status_code == 201, posted.text
    encounter_id = posted.json()["id"]
    assert posted.headers["Location"].endswith(f"/fhir/r4/Encounter/{encounter_id}")
    # 23:30 on 31 March in Beijing is March, though it is already... still 31 March in UTC.
    assert counts(session) == {("2024-03", VolumeKind.OUTPATIENT): 1}

    # The HIS sends the same visit again, corrected to 1 April: updated, the count moves.
    again = client.post("/fhir/r4/Encounter", headers=his,
                        json=encounter_body(network, start="2024-04-01T07:30:00+08:00"))
    assert again.status_code == 200 and again.json()["id"] == encounter_id
    assert session.scalar(select(func.count()).select_from(Encounter)) == 1
    assert counts(session) == {("2024-04", VolumeKind.OUTPATIENT): 1}
    stored = session.get(Encounter, int(encounter_id))
    assert stored is not None and stored.department_id == network.paediatrics.id
    assert stored.origin is PatientOrigin.LOCAL and stored.residence_region_code == "130602"

    surgery = {"resourceType": "Procedure", "status": "completed",
               "identifier": [{"value": "SS0001"}],
               "subject": {"reference": f"Patient/{network.beijing}"},
               "performedDateTime": "2024-04-02T09:00:00+08:00",
               "performer": [{"actor": {"reference": f"Organization/{network.baoding.id}"}}]}
    assert client.post("/fhir/r4/Procedure", headers=his, json=surgery).status_code == 201
    assert counts(session)[("2024-04", VolumeKind.SURGERY)] == 1

    # Not valid R4 (an unknown status), an unknown class, no identifier: 422, nothing stored.
    bad = client.post("/fhir/r4/Encounter", headers=his,
                      json=encounter_body(network, visit="MZ2", start="2024-04-01T08:00:00+08:00",
                                          status="done"))
    assert bad.status_code == 422
    assert client.post("/fhir/r4/Encounter", headers=his, json=encounter_body(
        network, visit="MZ3", start="2024-04-01T08:00:00+08:00", klass="HH")).status_code == 422
    no_id = {**surgery, "identifier": []}
    answer = client.post("/fhir/r4/Procedure", headers=his, json=no_id)
    assert answer.status_code == 422 and "identifier" in answer.text
    assert session.scalar(select(func.count()).select_from(Encounter)) == 2

    # Read and search: the Baoding hospital sees its patients' encounters; Huailai does not.
    read = client.get(f"/fhir/r4/Encounter/{encounter_id}", headers=his)
    assert read.status_code == 200 and read.json()["class"]["code"] == "AMB"
    found = client.get("/fhir/r4/Procedure", headers=his,
                       params={"patient": f"Patient/{network.beijing}", "date": "ge2024-04-01"})
    assert found.json()["total"] == 1
    assert client.get("/fhir/r4/Encounter", headers=his,
                      params={"service-provider": f"Organization/{network.huailai.id}"}
                      ).json()["total"] == 0
    outsider = bearer(client, "hl_admin")
    assert client.get(f"/fhir/r4/Encounter/{encounter_id}", headers=outsider).status_code == 404
    assert client.get("/fhir/r4/Encounter", headers=outsider).json()["total"] == 0
    # Huailai's account may not send encounters for the Baoding hospital.
    assert client.post("/fhir/r4/Encounter", headers=outsider, json=encounter_body(
        network, visit="MZ9", start="2024-04-01T08:00:00+08:00")).status_code == 403


def test_hl7_admit_discharge_and_outpatient(client: TestClient, session: Session,
                                            network: Network) -> None:
    his = hl7_headers(client)

    def send(message: str, headers: dict[str, str] = his) -> list[str]:
        return msa(client.post(HL7, content=message.encode(), headers=headers).text)

    admitted = adt("A01", "C1", visit="ZY0001", admitted="202401302200")
    assert send(admitted)[:2] == ["AA", "C1"]
    stay = session.scalar(select(Encounter))
    assert stay is not None and stay.kind is EncounterKind.INPATIENT
    assert stay.status is EncounterStatus.IN_PROGRESS
    assert counts(session) == {("2024-01", VolumeKind.ADMISSION): 1}

    # Discharged in February: the same stay, now finished; resending the A03 changes nothing.
    discharge = adt("A03", "C2", visit="ZY0001", discharged="202402031000")
    assert send(discharge)[0] == "AA"
    assert send(discharge.replace("|C2|", "|C3|"))[0] == "AA"
    assert session.scalar(select(func.count()).select_from(Encounter)) == 1
    assert counts(session) == {("2024-01", VolumeKind.ADMISSION): 1,
                               ("2024-02", VolumeKind.DISCHARGE): 1}

    # A04 with PV1 is an outpatient visit of the out-of-region patient; without PV1 only
    # the patient is registered, as before analytics existed.
    visit = adt("A04", "C4", patient="BD0002", visit="MZ0100", admitted="202402050900")
    assert send(visit)[0] == "AA"
    new_patient = adt("A04", "C5", patient="BD0009", pv1=False).replace(
        "PID|1||BD0009^^^BCHBD^PI", "PID|1||BD0009^^^BCHBD^PI||孙小丽||20180404|F")
    assert send(new_patient)[0] == "AA"
    assert send(adt("A04", "C6", patient="BD0003", visit=""))[0] == "AA"  # PV1, no PV1-19
    assert session.scalar(select(func.count()).select_from(Encounter)) == 2
    outpatient = session.scalar(select(Encounter).where(Encounter.source_id == "MZ0100"))
    assert outpatient is not None and outpatient.origin is PatientOrigin.OUT_OF_REGION

    # AE with a reason: no PV1 on A01, a discharge of an outpatient, an unknown department,
    # no visit number; AR: the insurance clerk's account may not send encounters.
    assert send(adt("A01", "E1", pv1=False))[0] == "AE"
    ack = send(adt("A03", "E2", patient_class="O", visit="MZ0100", discharged="202402051000"))
    assert ack[0] == "AE" and "inpatients only" in ack[2]
    ack = send(adt("A01", "E3", department="NOPE", visit="ZY9", admitted="202402051000"))
    assert ack[0] == "AE" and "NOPE" in ack[2]
    ack = send(adt("A01", "E4", admitted="202402051000"))
    assert ack[0] == "AE" and "PV1-19" in ack[2]
    ack = send(adt("A04", "E5", visit="MZ7", admitted="202402051000"),
               hl7_headers(client, "bd_clerk"))
    assert ack[0] == "AR"
    assert session.scalar(select(func.count()).select_from(Encounter)) == 2


HISTORY = ",".join(history.COLUMNS) + """
BCHBD,PED,BD0001,H1,outpatient,,2021-08-10T09:00,
BCHBD,PED,BD0002,H2,outpatient,,2022-06-30T23:30,
BCHBD,,BD0003,H3,outpatient,,2022-07-01T00:30,
BCHBD,PED,BD0001,H4,inpatient,finished,2021-12-30T10:00,2022-01-04T10:00
BCHBD,PED,BD0002,H5,surgery,,2021-12-31T08:00+08:00,
"""


def test_csv_history_all_or_nothing_and_idempotent(
    runner: CliRunner, session: Session, network: Network, tmp_path: Path
) -> None:
    path = tmp_path / "history.csv"
    bad = HISTORY + "BCHBD,PED,BD0404,H6,outpatient,,2022-01-01T08:00,\n"
    path.write_text(bad, encoding="utf-8")
    result = runner.invoke(cli, ["analytics", "import-encounters", str(path)])
    assert result.exit_code == 1
    assert "line 7" in result.output and "BD0404" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert session.scalar(select(func.count()).select_from(Encounter)) == 0

    path.write_text(HISTORY.replace("2022-01-04T10:00", "2021-12-01T10:00"), encoding="utf-8")
    result = runner.invoke(cli, ["analytics", "import-encounters", str(path)])
    assert result.exit_code == 1 and "line 5" in result.output

    path.write_text(HISTORY, encoding="utf-8")
    result = runner.invoke(cli, ["analytics", "import-encounters", str(path)])
    assert result.exit_code == 0, result.output
    assert "5 new" in result.output
    # Beijing months: 23:30 on 30 June is June; 00:30 on 1 July is July.
    assert counts(session) == {
        ("2021-08", VolumeKind.OUTPATIENT): 1, ("2022-06", VolumeKind.OUTPATIENT): 1,
        ("2022-07", VolumeKind.OUTPATIENT): 1, ("2021-12", VolumeKind.ADMISSION): 1,
        ("2022-01", VolumeKind.DISCHARGE): 1, ("2021-12", VolumeKind.SURGERY): 1}

    # The same file again, with one visit moved: updated in place, no duplicates.
    path.write_text(HISTORY.replace("2021-08-10T09:00", "2021-09-10T09:00"), encoding="utf-8")
    result = runner.invoke(cli, ["analytics", "import-encounters", str(path)])
    assert result.exit_code == 0 and "5 updated" in result.output
    assert session.scalar(select(func.count()).select_from(Encounter)) == 5
    moved = counts(session)
    assert ("2021-08", VolumeKind.OUTPATIENT) not in moved
    assert moved[("2021-09", VolumeKind.OUTPATIENT)] == 1
