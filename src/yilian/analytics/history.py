"""History files: years of encounters from a hospital's HIS as one CSV, all rows or none.

Columns (UTF-8, header row; extra columns are an error so a misnamed one is noticed):

institution_code  the treating institution's registry code
department_code   its department's code (may be empty)
patient_number    the institution's own patient number, already in the patient index
source_id         the HIS visit / admission / operation number (re-importing updates it)
kind              outpatient | inpatient | surgery
status            finished (default) | in-progress | cancelled
started_at        ISO 8601 (2024-03-05T09:30 or with an offset; without one, Beijing time)
ended_at          ISO 8601 or empty; a finished inpatient stay needs it (the discharge)

Every row is checked before anything is written; the first bad one is named with its line
number (the header is line 1). Rows are resolved in bulk — one query per institution for
its patient numbers and one for its known encounters — and inserted as one multi-row insert.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.analytics import intake
from yilian.analytics.aggregates import BEIJING
from yilian.analytics.intake import BulkRow, Regions
from yilian.analytics.models import EncounterKind, EncounterStatus
from yilian.analytics.schemas import EncounterCreate
from yilian.audit import service as audit
from yilian.errors import InvalidInput
from yilian.patients import access as patient_access
from yilian.patients.models import PatientRecord
from yilian.registry import service as registry
from yilian.registry.models import Institution
from yilian.validation import describe_validation_errors

COLUMNS = ("institution_code", "department_code", "patient_number", "source_id", "kind",
           "status", "started_at", "ended_at")
REQUIRED = ("institution_code", "patient_number", "source_id", "kind", "started_at")


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    rows: int
    inserted: int
    updated: int


def _row_error(line: int, zh: str, en: str) -> InvalidInput:
    return InvalidInput("invalid_encounter_row", f"第 {line} 行：{zh}", f"line {line}: {en}")


def _instant(text: str, line: int, column: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _row_error(line, f"{column} 须为 ISO 8601 时间：{text}",
                         f"{column} must be an ISO 8601 time: {text}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=BEIJING)


class _Resolver:
    """Institutions, departments and patient numbers, each looked up once per file."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.institutions: dict[str, Institution | None] = {}
        self.departments: dict[int, dict[str, int]] = {}
        self.records: dict[int, dict[str, PatientRecord]] = {}

    def institution(self, code: str, line: int) -> Institution:
        if code not in self.institutions:
            self.institutions[code] = registry.get_institution_by_code(self.session, code=code)
        found = self.institutions[code]
        if found is None:
            raise _row_error(line, f"机构编码不存在：{code}", f"no institution has the code {code}")
        return found

    def department(self, institution: Institution, code: str, line: int) -> int | None:
        if not code:
            return None
        if institution.id not in self.departments:
            self.departments[institution.id] = {
                d.code: d.id for d in registry.list_departments(
                    self.session, institution_id=institution.id)}
        found = self.departments[institution.id].get(code)
        if found is None:
            raise _row_error(line, f"{institution.code} 没有科室编码 {code}",
                             f"{institution.code} has no department {code}")
        return found

    def load_records(self, institution_id: int, numbers: set[str]) -> None:
        self.records[institution_id] = patient_access.records_by_local_id(
            self.session, institution_id=institution_id, local_ids=numbers)


def _parse(text: str) -> list[tuple[int, dict[str, str]]]:
    if "\x00" in text:  # a binary file (or UTF-16); PostgreSQL cannot store NUL in text
        raise InvalidInput(
            "not_csv_text",
            "不是 CSV 文本文件：请在 Excel 中“另存为” CSV UTF-8（逗号分隔）",
            "Not a CSV text file: in Excel use Save As “CSV UTF-8 (Comma delimited)”",
        )
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in header]
    if unknown or missing:
        raise _row_error(1, f"表头有误：缺少 {'、'.join(missing) or '无'}，多余 "
                            f"{'、'.join(unknown) or '无'}（应为 {','.join(COLUMNS)}）",
                         f"bad header: missing {', '.join(missing) or 'none'}, unknown "
                         f"{', '.join(unknown) or 'none'} (expected {','.join(COLUMNS)})")
    return [(index, {k: (v or "").strip() for k, v in row.items() if k})
            for index, row in enumerate(reader, start=2)]


def _validated(resolver: _Resolver, line: int, row: dict[str, str]) -> BulkRow:
    for column in REQUIRED:
        if not row.get(column):
            raise _row_error(line, f"{column} 不能为空", f"{column} is required")
    institution = resolver.institution(row["institution_code"], line)
    record = resolver.records[institution.id].get(row["patient_number"])
    if record is None:
        raise _row_error(line, f"{institution.code} 的患者号 {row['patient_number']} 未登记",
                         f"patient number {row['patient_number']} is not registered at "
                         f"{institution.code}")
    kinds = {kind.value: kind for kind in EncounterKind}
    if row["kind"] not in kinds:
        raise _row_error(line, f"kind 须为 outpatient、inpatient 或 surgery：{row['kind']}",
                         f"kind must be outpatient, inpatient or surgery: {row['kind']}")
    kind = kinds[row["kind"]]
    status = row.get("status") or EncounterStatus.FINISHED.value
    ended = _instant(row["ended_at"], line, "ended_at") if row.get("ended_at") else None
    if kind is EncounterKind.INPATIENT and status == "finished" and ended is None:
        raise _row_error(line, "已出院的住院须填 ended_at（出院时间）",
                         "a finished inpatient stay needs ended_at (the discharge)")
    try:
        data = EncounterCreate.model_validate({
            "resource_type": "Procedure" if kind is EncounterKind.SURGERY else "Encounter",
            "source_id": row["source_id"], "kind": kind, "status": status,
            "person_id": record.person_id, "institution_id": institution.id,
            "department_id": resolver.department(institution, row.get("department_code", ""),
                                                 line),
            "started_at": _instant(row["started_at"], line, "started_at"), "ended_at": ended,
        })
    except ValidationError as error:
        zh, en, _ = describe_validation_errors(error.errors())
        raise _row_error(line, zh, en) from None
    regions = Regions(record.insured_region_code, intake.residence_of(record))
    return BulkRow(data, regions, institution.region_code)


def import_encounters(session: Session, *, text: str) -> ImportResult:
    """Check every row of a history file, then store them all with their counts."""
    parsed = _parse(text)
    resolver = _Resolver(session)
    numbers: dict[int, set[str]] = {}
    for line, row in parsed:
        if row.get("institution_code"):
            institution = resolver.institution(row["institution_code"], line)
            numbers.setdefault(institution.id, set()).add(row.get("patient_number", ""))
    for institution_id, wanted in numbers.items():
        resolver.load_records(institution_id, wanted)
    seen: dict[tuple[int, str, str], int] = {}
    rows: list[BulkRow] = []
    for line, row in parsed:
        checked = _validated(resolver, line, row)
        key = (checked.data.institution_id, checked.data.resource_type, checked.data.source_id)
        if key in seen:
            raise _row_error(line, f"source_id {key[2]} 与第 {seen[key]} 行重复",
                             f"source_id {key[2]} repeats line {seen[key]}")
        seen[key] = line
        rows.append(checked)
    inserted, updated = intake.bulk_store(session, rows)
    audit.record(session, action="encounter.import", entity_type="encounter",
                 detail={"rows": len(rows), "inserted": inserted, "updated": updated})
    return ImportResult(len(rows), inserted, updated)
