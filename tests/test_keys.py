"""``yilian keys rotate``: values move to the new key online, lookups keep finding them."""

from __future__ import annotations

import base64
import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Enum, String, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import yilian.models  # noqa: F401 - every table on Base.metadata
from tests.conftest import TEST_FIELD_KEY
from tests.factories import bearer, make_institution, make_user, register, resident_id_number
from yilian import keys
from yilian.app import create_app
from yilian.auth import totp
from yilian.auth.models import Role, User
from yilian.cli import app
from yilian.config import Settings, get_settings
from yilian.crypto import FieldKeys, cipher_from_settings
from yilian.db import Base
from yilian.errors import InvalidInput
from yilian.fhir import systems
from yilian.notify.models import WebhookSubscription
from yilian.notify.subscriptions import SECRET_FIELD
from yilian.patients import matching
from yilian.patients.models import PatientRecord
from yilian.patients.service import person_holding_id

BORN = date(1980, 3, 4)
IDS = [resident_id_number("130730", BORN, 20 + n, male=True) for n in range(4)]
TOKEN = re.compile(r"^v1\.[0-9a-f]{8}\.")


@pytest.fixture
def file_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings whose keyring is a key file, holding the tests' usual key."""
    key_file = tmp_path / "yilian.fieldkey"
    key_file.write_text(TEST_FIELD_KEY + "\n", encoding="utf-8")
    return Settings(database_url=db_url, secret_key="test-secret-key-not-for-production-0123",
                    field_key=None, field_keys=None, field_key_file=key_file,
                    log_level="WARNING")


def seed(session: Session, settings: Settings) -> None:
    county = make_institution(session, code="HUAILAI")
    make_user(session, role=Role.CLINICIAN, institution=county, username="doctor")
    for number, id_number in enumerate(IDS[:3]):
        register(session, settings, county, f"HL-{number}", name="张伟", sex="male",
                 birth_date=BORN, id_number=id_number, phone=f"1391234567{number}")
    session.add(WebhookSubscription(
        institution_id=county.id, url="https://his.example/hook",
        secret_encrypted=cipher_from_settings(settings).encrypt(SECRET_FIELD, "s3cret"),
    ))
    session.commit()


def found_by_id(session: Session, settings: Settings, id_number: str) -> bool:
    """The patient index's lookup by resident ID (a blind index), as registration uses it."""
    hashed = matching.id_hash(cipher_from_settings(settings), id_number)
    return hashed is not None and person_holding_id(session, id_hash=hashed) is not None


def plaintexts(session: Session, settings: Settings) -> dict[tuple[str, int], str]:
    """Every encrypted value, decrypted, by field and row."""
    cipher = cipher_from_settings(settings)
    session.expire_all()
    values: dict[tuple[str, int], str] = {}
    for record in session.scalars(select(PatientRecord)):
        for field, token in ((matching.ID_FIELD, record.id_number_cipher),
                             (matching.PHONE_FIELD, record.phone_cipher)):
            if token:
                values[field, record.id] = cipher.decrypt(field, token)
    for hook in session.scalars(select(WebhookSubscription)):
        values[SECRET_FIELD, hook.id] = cipher.decrypt(SECRET_FIELD, hook.secret_encrypted)
    return values


def still_there(before: dict[tuple[str, int], str], now: dict[tuple[str, int], str]) -> bool:
    return before.items() <= now.items()


def fhir_resident_ids(client: TestClient, headers: dict[str, str], number: str) -> set[str]:
    """The resident IDs of the patients a FHIR search by this one finds (a blind index),
    as the server decrypted them."""
    bundle = client.get(f"/fhir/r4/Patient?identifier={systems.RESIDENT_ID}|{number}",
                        headers=headers).json()
    return {identifier["value"] for entry in bundle.get("entry", [])
            for identifier in entry["resource"]["identifier"]
            if identifier["system"] == systems.RESIDENT_ID}


def test_rotation_moves_every_value_to_the_new_key_while_lookups_keep_working(
    session: Session, sessions: sessionmaker[Session], file_settings: Settings, tmp_path: Path,
) -> None:
    seed(session, file_settings)
    old_id = FieldKeys.derive(base64.b64decode(TEST_FIELD_KEY)).key_id
    before = plaintexts(session, file_settings)
    assert keys.values_by_key(session) == {old_id: 7}
    # A server running all along, on its own reading of the key file.
    running = create_app(Settings(database_url=file_settings.database_url, field_key=None,
                                  field_keys=None, field_key_file=file_settings.field_key_file,
                                  secret_key="test-secret-key-not-for-production-0123",
                                  log_level="WARNING"))
    client = TestClient(running)
    doctor = bearer(client, "doctor")
    assert all(fhir_resident_ids(client, doctor, n) == {n} for n in IDS[:3])

    new_id = keys.install_new_key(file_settings)
    half_rotated: list[dict[str, int]] = []

    def meanwhile(column: keys.EncryptedColumn, _done: int) -> None:
        # Between two batches the running server finds patients by resident ID and reads
        # their values, and a new patient is registered (under the new key).
        with sessions() as server:
            half_rotated.append(keys.values_by_key(server))
            assert all(found_by_id(server, file_settings, number) for number in IDS[:3])
            assert still_there(before, plaintexts(server, file_settings))
            if len(half_rotated) == 1:
                county = make_institution(server, code="ZJK")
                register(server, file_settings, county, "ZJK-1", name="李娜", sex="female",
                         birth_date=BORN, id_number=IDS[3])
                server.commit()
        assert all(fhir_resident_ids(client, doctor, n) == {n} for n in IDS[:3])

    try:
        report = keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings),
                                batch_size=3, after_batch=meanwhile)
        assert all(fhir_resident_ids(client, doctor, n) == {n} for n in IDS[:3])
    finally:
        client.close()
        running.state.engine.dispose()

    assert old_id in half_rotated[0] and new_id in half_rotated[0]  # it was half-way
    assert report.left_over == 0 and report.key_id == new_id
    assert keys.values_by_key(session) == {new_id: 8}
    assert still_there(before, plaintexts(session, file_settings))
    assert all(found_by_id(session, file_settings, number) for number in IDS)

    # A server started afresh on the new keyring (here given in YILIAN_FIELD_KEYS form)
    # reads everything, and finds the patients by resident ID over FHIR.
    ring = ",".join(base64.b64encode(k).decode() for k in file_settings.resolved_field_keys())
    fresh = Settings(database_url=file_settings.database_url, field_keys=SecretStr(ring),
                     secret_key="test-secret-key-not-for-production-0123", log_level="WARNING")
    assert still_there(before, plaintexts(session, fresh))
    application = create_app(fresh)
    try:
        with TestClient(application) as restarted:
            headers = bearer(restarted, "doctor")
            assert all(fhir_resident_ids(restarted, headers, n) == {n} for n in IDS[:3])
    finally:
        application.state.engine.dispose()

    # The old key can now go? Not the first: the blind indexes are keyed from it.
    with pytest.raises(InvalidInput, match="first"):
        keys.retire(session, file_settings, old_id)


def test_an_unused_middle_key_can_be_retired_a_used_one_cannot(
    session: Session, sessions: sessionmaker[Session], file_settings: Settings,
) -> None:
    seed(session, file_settings)
    middle = keys.install_new_key(file_settings)
    keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    newest = keys.install_new_key(file_settings)
    with pytest.raises(InvalidInput, match="7 values are still under key"):
        keys.retire(session, file_settings, middle)

    keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    keys.retire(session, file_settings, middle)

    assert keys.key_ids(file_settings)[1:] == [newest]
    assert "s3cret" in plaintexts(session, file_settings).values()


def test_cli_rotate_and_status(
    runner: CliRunner, session: Session, file_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(session, file_settings)
    # Keys given in the environment cannot be rotated from here: one clear line.
    refused = runner.invoke(app, ["keys", "rotate"])
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert "YILIAN_FIELD_KEYS" in refused.output

    monkeypatch.delenv("YILIAN_FIELD_KEY")
    monkeypatch.setenv("YILIAN_FIELD_KEY_FILE", str(file_settings.field_key_file))
    get_settings.cache_clear()
    rotated = runner.invoke(app, ["keys", "rotate", "--batch-size", "2"])
    assert rotated.exit_code == 0, rotated.output
    new_id = keys.key_ids(file_settings)[-1]
    shown = runner.invoke(app, ["keys", "status"]).output
    assert f"key {new_id} (encrypts): 7 values" in shown
    assert "(blind indexes): 0 values" in shown


def test_every_encrypted_column_is_known_to_the_rotation(
    session: Session, file_settings: Settings,
) -> None:
    seed(session, file_settings)
    # A clinician who turned two-factor sign-in on: the authenticator's secret is sealed too.
    doctor = session.scalars(select(User).where(User.username == "doctor")).one()
    totp.begin_enrolment(session, file_settings, user=doctor)
    session.commit()
    assert [c.field for c in keys.ENCRYPTED_COLUMNS] == [
        matching.ID_FIELD, matching.PHONE_FIELD, SECRET_FIELD, totp.SECRET_FIELD]
    holding_tokens = set()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String) and not isinstance(column.type, Enum):
                values = session.scalars(select(column).where(column.like("v1.%")))
                if any(TOKEN.match(value) for value in values):
                    holding_tokens.add((table.name, column.name))
    assert holding_tokens == {(c.table, c.column) for c in keys.ENCRYPTED_COLUMNS}


def test_keys_in_the_environment_roll_out_staged_so_no_server_meets_an_unknown_key() -> None:
    # A new key that itself begins with "+" (standard base64 may): still read as one key.
    new = next(text for text in (base64.b64encode(keys.new_master_key()).decode()
                                 for _ in range(10_000)) if text.startswith("+"))
    old = TEST_FIELD_KEY
    before = Settings(field_keys=SecretStr(old))
    staged = Settings(field_keys=SecretStr(f"{old},+{new}"))  # first rolling restart
    after = Settings(field_keys=SecretStr(f"{old},{new}"))  # second rolling restart

    # While staged, servers still write under the old key, which every server reads.
    assert cipher_from_settings(staged).key_id == cipher_from_settings(before).key_id
    # Once switched, servers write under the new key, which the staged servers read.
    token = cipher_from_settings(after).encrypt(matching.PHONE_FIELD, "13912345670")
    assert cipher_from_settings(after).token_key_id(token) != cipher_from_settings(before).key_id
    assert cipher_from_settings(staged).decrypt(matching.PHONE_FIELD, token) == "13912345670"
    # And all three find the same people by blind index.
    assert len({cipher_from_settings(s).blind_index(matching.PHONE_FIELD, "1391")
                for s in (before, staged, after)}) == 1
