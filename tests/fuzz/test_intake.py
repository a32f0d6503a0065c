"""Hypothesis against the intake paths: HL7 v2, FHIR creates and the CSV imports.

Each gets valid inputs broken a little (see ``mutations``) and arbitrary ones. Whatever
arrives, the answer is never a server error, a refusal says what is wrong in Chinese and
English, and a refused input leaves every table as it was (the audit trail aside, which
records refusals on purpose).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.conftest import TEST_FIELD_KEY
from tests.fuzz.conftest import SONG_ID, World, is_clear_error
from tests.fuzz.mutations import JSON_VALUES, mutated_json, mutated_text
from yilian.analytics import history
from yilian.cli import app as cli
from yilian.config import get_settings
from yilian.fhir import systems
from yilian.results import qualifications
from yilian.results.catalogue import JINGJINJI_CSV as CATALOGUE_CSV

# Examples per input kind: small for CI, derandomized so a run repeats; raise it for a deeper
# local run (YILIAN_FUZZ_INTAKE_EXAMPLES=500).
EXAMPLES = int(os.environ.get("YILIAN_FUZZ_INTAKE_EXAMPLES", "8"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


STATUSES: dict[str, int] = {}


def check_answer(world: World, before: dict[str, int], response: Any) -> None:
    """No server error; a refusal is clear and wrote nothing."""
    if os.environ.get("YILIAN_FUZZ_TALLY"):
        key = f"{response.request.url.path} {response.status_code}"
        STATUSES[key] = STATUSES.get(key, 0) + 1
        print(STATUSES)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert is_clear_error(response.json()), response.text[:500]
        assert world.counts() == before, response.text[:500]


# ---------------------------------------------------------------- HL7 v2

HL7 = {"Content-Type": "application/hl7-v2"}
A04 = "\r".join([
    "MSH|^~\\&|HIS|HLCOUNTY|YILIAN|YILIAN|20240315083000||ADT^A04^ADT_A01|FZ0001|P|2.4",
    "EVN|A04|20240315083000",
    f"PID|1||000123^^^HLCOUNTY^PI~{SONG_ID}^^^CHN^NNCHN||宋^秀兰||19680314|F|||"
    "沙城镇东大街12号^3单元^张家口市^河北省^075400^CHN^H^^130730||^PRN^CP^^^^^^^^^13812345678",
    "PV1|1|O|NEIKE^^^HLCOUNTY",
    "IN1|1|CXJM|130730^^^HBYB|怀来县医疗保障局|||||||||||resident",
]) + "\r"
A08 = A04.replace("ADT^A04^ADT_A01|FZ0001", "ADT^A08^ADT_A01|FZ0002").replace(
    "EVN|A04", "EVN|A08")
A40 = "\r".join([
    "MSH|^~\\&|HIS|HLCOUNTY|YILIAN|YILIAN|20240315083000||ADT^A40^ADT_A39|FZ0003|P|2.4",
    "EVN|A40|20240315083000",
    "PID|1||000123^^^HLCOUNTY^PI",
    "MRG|000125^^^HLCOUNTY^PI",
]) + "\r"


def ack_fields(text: str) -> dict[str, list[str]]:
    return {line.split("|")[0]: line.split("|") for line in text.split("\r") if line}


def check_ack(world: World, before: dict[str, int], response: Any) -> None:
    """An ACK; AE or AR carries a bilingual reason and wrote nothing."""
    if response.status_code != 200:
        check_answer(world, before, response)
        return
    assert response.headers["content-type"].startswith("application/hl7-v2"), response.text
    segments = ack_fields(response.text)
    code = segments["MSA"][1]
    assert code in ("AA", "AE", "AR"), response.text
    if code != "AA":
        error = segments["ERR"]
        assert len(error) > 8 and " / " in error[8], response.text
        assert world.counts() == before, response.text


def test_the_valid_inputs_the_fuzzers_start_from_are_taken(world: World) -> None:
    """Each fuzzer breaks an input the platform takes; otherwise it would fuzz only refusals."""
    for message in (A04, A08, A40):
        answer = world.client.post("/hl7/v2", content=message.encode(), headers=world.his | HL7)
        assert ack_fields(answer.text)["MSA"][1] == "AA", answer.text
    for kind, body in fhir_examples(world).items():
        headers = world.doctor if kind == "ServiceRequest" else world.his
        posted = world.client.post(f"/fhir/r4/{kind}", json=body, headers=headers | FHIR)
        assert posted.status_code in (200, 201), posted.text
    for url, text in UPLOADS.values():
        upload = {"file": ("valid.csv", text.encode(), "text/csv")}
        imported = world.client.post(url, headers=world.admin, files=upload)
        assert imported.status_code == 200, imported.text


@FUZZ
@given(message=st.sampled_from([A04, A08, A40]).flatmap(
    lambda valid: mutated_text(valid, line_end="\r", separator="|")))
def test_hl7_messages_broken_a_little(world: World, message: str) -> None:
    before = world.counts()
    response = world.client.post("/hl7/v2", content=message.encode("utf-8", "surrogatepass"),
                                 headers=world.his | HL7)
    check_ack(world, before, response)


@FUZZ
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(
    lambda text: ("MSH|^~\\&|" + text).encode("utf-8", "surrogatepass")))
def test_hl7_anything(world: World, body: bytes) -> None:
    before = world.counts()
    response = world.client.post("/hl7/v2", content=body, headers=world.his | HL7)
    check_ack(world, before, response)


# ---------------------------------------------------------------- FHIR

FHIR = {"Content-Type": "application/fhir+json"}


def fhir_examples(world: World) -> dict[str, dict[str, Any]]:
    """A valid resource of each kind the FHIR facade takes in."""
    patient = f"Patient/{world.person_id}"
    return {
        "Patient": {
            "resourceType": "Patient",
            "identifier": [{"system": systems.institution_patient_system("HLCOUNTY"),
                            "value": "000124"}],
            "name": [{"text": "李四"}], "gender": "male", "birthDate": "1970-01-02",
        },
        "Encounter": {
            "resourceType": "Encounter", "status": "finished",
            "identifier": [{"system": "urn:his:hlcounty", "value": "MZ0001"}],
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": patient},
            "serviceProvider": {"reference": f"Organization/{world.county.id}"},
            "period": {"start": "2024-03-31T23:30:00+08:00"},
        },
        "Procedure": {
            "resourceType": "Procedure", "status": "completed",
            "identifier": [{"value": "SS0001"}], "subject": {"reference": patient},
            "performedDateTime": "2024-04-02T09:00:00+08:00",
            "performer": [{"actor": {"reference": f"Organization/{world.county.id}"}}],
        },
        "ServiceRequest": {
            "resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "priority": "routine", "subject": {"reference": patient},
            "performer": [{"reference": f"Organization/{world.pku.id}"},
                          {"reference": f"Organization/dept-{world.department_id}"}],
            "code": {"coding": [{
                "system": "https://yilian.example.cn/fhir/CodeSystem/referral-kind",
                "code": "outpatient"}]},
            "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                        "code": "I10", "display": "高血压"}]}],
            "note": [{"text": "血压控制不佳"}],
        },
    }


@pytest.mark.parametrize("kind", ["Patient", "Encounter", "Procedure", "ServiceRequest"])
def test_fhir_creates_broken_a_little(world: World, kind: str) -> None:
    valid = fhir_examples(world)[kind]
    headers = world.doctor if kind == "ServiceRequest" else world.his

    @FUZZ
    @given(body=mutated_json(valid) | JSON_VALUES)
    def post(body: Any) -> None:
        before = world.counts()
        response = world.client.post(f"/fhir/r4/{kind}", json=body, headers=headers | FHIR)
        check_answer(world, before, response)

    post()


# ---------------------------------------------------------------- CSV imports

INSTITUTIONS = (
    "code,name,name_en,region_code,level,grade,kind,parent_code,beds,address,phone,centres\n"
    "FZSECOND,保定市第二医院,Baoding No.2 Hospital,130602,3,甲,general_hospital,,800,"
    "保定市竞秀区,0312-5976000,chest_pain;stroke\n"
    "FZSECOND-W,保定市第二医院西院,,130602,2,乙,general_hospital,FZSECOND,200,,,trauma\n"
)
AGREEMENTS = (
    "code,type,title,title_en,specialty,status,start_date,end_date,description,parties\n"
    "FZAGR1,trusteeship,北京大学人民医院托管怀来县医院,,,active,2022-07-01,,,"
    "PKUPH:lead;HLCOUNTY:member\n"
)
QUALIFICATIONS = "\n".join([
    ",".join(qualifications.COLUMNS),
    "PKUPH,,HEMATOLOGY,national,2024-01-01,2027-12-31,京津冀临床检验质控 2024 EQA",
    "HLCOUNTY,JJJ-L001,,city,2026-03-01,2028-02-29,京津冀临检中心 2026-EQA-18",
]) + "\n"
CATALOGUE = "".join(  # the header and three items of the Jing-Jin-Ji catalogue
    line for line in (CATALOGUE_CSV.read_text(encoding="utf-8").splitlines(keepends=True))
    if line.startswith(("code,", "JJJ-L001,", "JJJ-L002,", "JJJ-E001,"))
)
UPLOADS = {
    "registry institutions": ("/api/v1/registry/import", INSTITUTIONS),
    "registry agreements": ("/api/v1/registry/import", AGREEMENTS),
    "recognition catalogue": ("/api/v1/recognition/catalogue", CATALOGUE),
    "qualifications": ("/api/v1/recognition/qualifications/import", QUALIFICATIONS),
}


@pytest.mark.parametrize("upload", list(UPLOADS))
def test_csv_uploads_broken_a_little(world: World, upload: str) -> None:
    url, valid = UPLOADS[upload]
    if upload == "qualifications":  # the marks name catalogue items
        world.client.post("/api/v1/recognition/catalogue", headers=world.admin,
                          files={"file": ("c.csv", CATALOGUE.encode(), "text/csv")})

    @FUZZ
    @given(text=mutated_text(valid, line_end="\n", separator=","),
           encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]))
    def post(text: str, encoding: str) -> None:
        before = world.counts()
        data = text.encode(encoding, "replace")
        response = world.client.post(url, headers=world.admin,
                                     files={"file": ("fuzz.csv", data, "text/csv")})
        check_answer(world, before, response)

    post()


HISTORY = ",".join(history.COLUMNS) + (
    "\nHLCOUNTY,,000123,H1,outpatient,,2021-08-10T09:00,"
    "\nHLCOUNTY,,000123,H2,inpatient,finished,2021-12-30T10:00,2022-01-04T10:00"
    "\nHLCOUNTY,,000123,H3,surgery,,2021-12-31T08:00+08:00,\n"
)


def test_encounter_history_file_broken_a_little(
    world: World, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YILIAN_DATABASE_URL", world.settings.database_url)
    monkeypatch.setenv("YILIAN_FIELD_KEY", TEST_FIELD_KEY)
    get_settings.cache_clear()
    path = tmp_path_factory.mktemp("history") / "history.csv"
    runner = CliRunner()

    @FUZZ
    @given(text=mutated_text(HISTORY, line_end="\n", separator=","))
    def load(text: str) -> None:
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        before = world.counts()
        result = runner.invoke(cli, ["analytics", "import-encounters", str(path)])
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            repr(result.exception))
        if result.exit_code:
            assert len(result.output.strip().splitlines()) == 1, result.output
            assert " / " in result.output or "Error" in result.output, result.output
            assert world.counts() == before, result.output

    try:
        load()
    finally:
        get_settings.cache_clear()
