"""``yilian keys rotate``: values and blind indexes move to the new key online, lookups keep
finding them, and any key but the encrypting one can then be retired, the first one too."""

from __future__ import annotations

import base64
import hashlib
import hmac
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
from yilian.errors import Conflict, InvalidInput
from yilian.fhir import systems
from yilian.notify.models import WebhookSubscription
from yilian.notify.subscriptions import SECRET_FIELD
from yilian.patients import matching, merging
from yilian.patients.models import LinkMethod, PatientRecord, Person
from yilian.patients.service import person_holding_id

BORN = date(1980, 3, 4)
IDS = [resident_id_number("130730", BORN, 21 + 2 * n, male=True) for n in range(4)]
PHONES = [f"1391234567{n}" for n in range(3)]
TOKEN = re.compile(r"^v1\.[0-9a-f]{8}\.")
INDEX = re.compile(r"^([0-9a-f]{8}\.[A-Za-z0-9_-]{43}|[0-9a-f]{64})$")
FIRST_KEY = base64.b64decode(TEST_FIELD_KEY)
FIRST_ID = FieldKeys.derive(FIRST_KEY).key_id
# Seeded: three records with a resident ID and a phone, and a webhook secret; their people.
SEEDED = keys.KeyUse(values=7, indexes=9)


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
                 birth_date=BORN, id_number=id_number, phone=PHONES[number])
    session.add(WebhookSubscription(
        institution_id=county.id, url="https://his.example/hook",
        secret_encrypted=cipher_from_settings(settings).encrypt(SECRET_FIELD, "s3cret"),
    ))
    session.commit()


def use(session: Session, settings: Settings) -> dict[str, keys.KeyUse]:
    """What each key holds, as ``yilian keys status`` counts it."""
    first = keys.key_ids(settings)[0]
    return keys.use_by_key(keys.status(session, legacy_key_id=first))


def found_by_id(session: Session, settings: Settings, id_number: str) -> bool:
    """The patient index's lookup by resident ID (a blind index), as registration uses it."""
    hashes = matching.id_hashes(cipher_from_settings(settings), id_number)
    return person_holding_id(session, id_hashes=hashes) is not None


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


def fhir_resident_ids(client: TestClient, headers: dict[str, str], search: str) -> set[str]:
    """The resident IDs of the patients a FHIR Patient search finds, as the server decrypted
    them (by resident ID or phone: blind indexes)."""
    bundle = client.get(f"/fhir/r4/Patient?{search}", headers=headers).json()
    return {identifier["value"] for entry in bundle.get("entry", [])
            for identifier in entry["resource"]["identifier"]
            if identifier["system"] == systems.RESIDENT_ID}


def searchable(client: TestClient, headers: dict[str, str]) -> bool:
    """Each seeded patient is found over FHIR by their resident ID and by their phone."""
    return all(
        fhir_resident_ids(client, headers, f"identifier={systems.RESIDENT_ID}|{number}")
        == {number} == fhir_resident_ids(client, headers, f"phone={phone}")
        for number, phone in zip(IDS[:3], PHONES, strict=True)
    )


def server(settings: Settings) -> TestClient:
    """A running server on its own reading of the keyring."""
    return TestClient(create_app(Settings(
        database_url=settings.database_url, field_key=None, field_keys=settings.field_keys,
        field_key_file=settings.field_key_file,
        secret_key="test-secret-key-not-for-production-0123", log_level="WARNING",
    )))


def stop(client: TestClient) -> None:
    client.close()
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


def environment_keyring(settings: Settings) -> Settings:
    """Settings with the key file's keyring given in YILIAN_FIELD_KEYS form instead."""
    ring = ",".join(base64.b64encode(k).decode() for k in settings.resolved_field_keys())
    return Settings(database_url=settings.database_url, field_keys=SecretStr(ring),
                    secret_key="test-secret-key-not-for-production-0123", log_level="WARNING")


def old_index(field: str, value: str) -> str:
    """A blind index as made before indexes named their key: 64 hex digits of HMAC-SHA256
    of the field, NUL and the value under the first master key's index key."""
    return hmac.new(FieldKeys.derive(FIRST_KEY).index_key, f"{field}\0{value}".encode(),
                    hashlib.sha256).hexdigest()


def to_the_old_index_form(session: Session, settings: Settings) -> None:
    """Rewrite every blind index as the code before this one made them (all from the first
    key), as a hospital's database holds them when it upgrades."""
    cipher = cipher_from_settings(settings)
    for record in session.scalars(select(PatientRecord)):
        if record.id_number_cipher:
            number = cipher.decrypt(matching.ID_FIELD, record.id_number_cipher)
            record.id_number_hash = old_index(matching.ID_FIELD, number)
        if record.phone_cipher:
            phone = cipher.decrypt(matching.PHONE_FIELD, record.phone_cipher)
            record.phone_hash = old_index(matching.PHONE_FIELD, phone)
    session.flush()
    for person in session.scalars(select(Person)):
        held = {r.id_number_hash for r in person.records if r.id_number_hash}
        person.id_number_hash = held.pop() if held else None
    session.commit()


def test_rotation_moves_every_value_and_index_to_the_new_key_while_lookups_keep_working(
    session: Session, sessions: sessionmaker[Session], file_settings: Settings,
) -> None:
    seed(session, file_settings)
    before = plaintexts(session, file_settings)
    assert use(session, file_settings) == {FIRST_ID: SEEDED}
    client = server(file_settings)
    doctor = bearer(client, "doctor")
    assert searchable(client, doctor)

    new_id = keys.install_new_key(file_settings)
    half_rotated: list[dict[str, dict[str, int]]] = []
    returning: list[int] = []

    def meanwhile(column: keys.RotatedColumn, _done: int) -> None:
        # Between two batches the running server finds patients by resident ID and phone and
        # reads their values, and two patients register at another hospital (under the new
        # key): a new one, and one whose person and records the rotation has not reached.
        with sessions() as other:
            half_rotated.append(keys.status(other, legacy_key_id=FIRST_ID))
            assert all(found_by_id(other, file_settings, number) for number in IDS[:3])
            assert still_there(before, plaintexts(other, file_settings))
            if len(half_rotated) == 1:
                zjk = make_institution(other, code="ZJK")
                register(other, file_settings, zjk, "ZJK-1", name="李娜", sex="female",
                         birth_date=BORN, id_number=IDS[3])
                again = register(other, file_settings, zjk, "ZJK-2", name="张伟", sex="male",
                                 birth_date=BORN, id_number=IDS[2])
                assert again.outcome is LinkMethod.RESIDENT_ID
                returning.append(again.person.id)
                other.commit()
        assert searchable(client, doctor)

    try:
        report = keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings),
                                batch_size=2, after_batch=meanwhile)
        assert searchable(client, doctor)
    finally:
        stop(client)

    # It was half-way in each index column: some indexes re-made, others not yet.
    for label in keys.INDEX_LABELS:
        assert any(set(state[label]) == {FIRST_ID, new_id} for state in half_rotated), label
    assert report.left_over == 0 and report.key_id == new_id
    # Two people re-hashed by the rotation; the returning patient's by its registration.
    assert report.reindexed["person.id_number_hash"] == 2
    assert set(use(session, file_settings)) == {new_id}
    assert still_there(before, plaintexts(session, file_settings))
    assert all(found_by_id(session, file_settings, number) for number in IDS)
    # The returning patient is still one person, holding one resident ID.
    person = session.get(Person, returning[0])
    assert person is not None and len(person.records) == 2
    assert person.id_number_hash in matching.id_hashes(cipher_from_settings(file_settings),
                                                       IDS[2])

    # Nothing uses the first key any more: it goes, and a server started afresh on what is
    # left (here given in YILIAN_FIELD_KEYS form) reads everything and finds everyone.
    keys.retire(session, file_settings, FIRST_ID)
    assert keys.key_ids(file_settings) == [new_id]
    fresh = environment_keyring(file_settings)
    assert still_there(before, plaintexts(session, fresh))
    assert all(found_by_id(session, fresh, number) for number in IDS)
    restarted = server(fresh)
    try:
        assert searchable(restarted, bearer(restarted, "doctor"))
    finally:
        stop(restarted)


def test_indexes_of_the_old_form_keep_working_and_hold_the_first_key_until_rotated(
    session: Session, sessions: sessionmaker[Session], file_settings: Settings,
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hospital upgrading from the code whose rotation moved only the ciphertexts: its
    # values are under the second key, every blind index is of the old form, from the first.
    seed(session, file_settings)
    second = keys.install_new_key(file_settings)
    keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    to_the_old_index_form(session, file_settings)
    assert use(session, file_settings) == {
        FIRST_ID: keys.KeyUse(indexes=SEEDED.indexes),
        second: keys.KeyUse(values=SEEDED.values),
    }

    # Search and registration find the patients as before the upgrade.
    client = server(file_settings)
    try:
        assert searchable(client, bearer(client, "doctor"))
    finally:
        stop(client)
    assert all(found_by_id(session, file_settings, number) for number in IDS[:3])
    zjk = make_institution(session, code="ZJK")
    again = register(session, file_settings, zjk, "ZJK-2", name="张伟", sex="male",
                     birth_date=BORN, id_number=IDS[0])
    session.commit()
    assert again.outcome is LinkMethod.RESIDENT_ID

    # The first key still makes indexes: retiring it is refused, in one line.
    monkeypatch.delenv("YILIAN_FIELD_KEY")
    monkeypatch.setenv("YILIAN_FIELD_KEY_FILE", str(file_settings.field_key_file))
    get_settings.cache_clear()
    refused = runner.invoke(app, ["keys", "retire", FIRST_ID])
    assert refused.exit_code != 0 and len(refused.output.strip().splitlines()) == 1
    assert f"0 values and 8 blind indexes are still under key {FIRST_ID}" in refused.output
    assert keys.key_ids(file_settings)[0] == FIRST_ID

    rotated = runner.invoke(app, ["keys", "rotate", "--no-new-key", "--batch-size", "2"])
    assert rotated.exit_code == 0, rotated.output
    assert "patient_record.id_number_hash 3" in rotated.output  # the returning one was new
    retired = runner.invoke(app, ["keys", "retire", FIRST_ID])
    assert retired.exit_code == 0, retired.output
    assert keys.key_ids(file_settings) == [second]
    assert all(found_by_id(session, file_settings, number) for number in IDS[:3])


def test_retire_refuses_a_key_while_one_index_still_uses_it(
    session: Session, sessions: sessionmaker[Session], file_settings: Settings,
) -> None:
    seed(session, file_settings)
    keys.install_new_key(file_settings)
    keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    # One person's resident-ID index left under the first key (of the old form).
    person = session.scalars(select(Person).order_by(Person.id)).first()
    assert person is not None
    person.id_number_hash = old_index(matching.ID_FIELD, IDS[0])
    session.commit()

    with pytest.raises(InvalidInput, match="0 values and 1 blind indexes are still under key"):
        keys.retire(session, file_settings, FIRST_ID)
    assert found_by_id(session, file_settings, IDS[0])

    report = keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    assert report.reindexed["person.id_number_hash"] == 1 and report.left_over == 0
    keys.retire(session, file_settings, FIRST_ID)
    assert found_by_id(session, file_settings, IDS[0])


def test_the_key_that_encrypts_is_never_retired(
    session: Session, sessions: sessionmaker[Session], file_settings: Settings,
) -> None:
    seed(session, file_settings)
    with pytest.raises(InvalidInput, match="encrypts new values"):
        keys.retire(session, file_settings, FIRST_ID)  # the only key: first and current
    newest = keys.install_new_key(file_settings)
    keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    with pytest.raises(InvalidInput, match="encrypts new values"):
        keys.retire(session, file_settings, newest)


def test_an_unused_middle_key_can_be_retired_a_used_one_cannot(
    session: Session, sessions: sessionmaker[Session], file_settings: Settings,
) -> None:
    seed(session, file_settings)
    middle = keys.install_new_key(file_settings)
    keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    newest = keys.install_new_key(file_settings)
    with pytest.raises(InvalidInput, match="7 values and 9 blind indexes are still under key"):
        keys.retire(session, file_settings, middle)

    keys.reencrypt(sessions, lambda: cipher_from_settings(file_settings))
    keys.retire(session, file_settings, middle)

    assert keys.key_ids(file_settings) == [FIRST_ID, newest]
    assert "s3cret" in plaintexts(session, file_settings).values()


def test_the_same_resident_id_under_two_keys_is_one_id_to_the_patient_index(
    session: Session, file_settings: Settings,
) -> None:
    # Mid-rotation, one person's records hold their resident ID under two keys.
    seed(session, file_settings)
    keys.install_new_key(file_settings)
    zjk = make_institution(session, code="ZJK")
    again = register(session, file_settings, zjk, "ZJK-2", name="张伟", sex="male",
                     birth_date=BORN, id_number=IDS[0])
    session.commit()
    first = session.scalars(select(PatientRecord).where(PatientRecord.local_id == "HL-0")).one()
    assert again.person.id == first.person_id
    assert first.id_number_hash != again.record.id_number_hash  # two keys, two hashes
    # Records with the same resident ID stay with the same person.
    with pytest.raises(Conflict, match="same resident ID"):
        merging.detach_record(session, file_settings, None, record_id=again.record.id,
                              reason="wrong patient")
    # Two people holding different resident IDs are not merged.
    other = session.scalars(select(PatientRecord).where(PatientRecord.local_id == "HL-1")).one()
    with pytest.raises(Conflict, match="different resident IDs"):
        merging.merge_persons(session, file_settings, None, survivor_id=other.person_id,
                              retired_id=first.person_id, reason="test")


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
    shown = runner.invoke(app, ["keys", "status"]).output
    assert f"key {FIRST_ID} (encrypts): 7 values, 9 blind indexes" in shown
    rotated = runner.invoke(app, ["keys", "rotate", "--batch-size", "2"])
    assert rotated.exit_code == 0, rotated.output
    new_id = keys.key_ids(file_settings)[-1]
    shown = runner.invoke(app, ["keys", "status"]).output
    assert f"key {new_id} (encrypts): 7 values, 9 blind indexes" in shown
    assert f"key {FIRST_ID}: 0 values, 0 blind indexes" in shown
    assert f"  person.id_number_hash: {new_id} 3" in shown
    refused = runner.invoke(app, ["keys", "retire", new_id])
    assert refused.exit_code != 0 and len(refused.output.strip().splitlines()) == 1
    assert runner.invoke(app, ["keys", "retire", FIRST_ID]).exit_code == 0
    assert keys.key_ids(file_settings) == [new_id]


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
    # And every column holding blind indexes is re-indexed by it.
    holding_indexes = set()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String) and not isinstance(column.type, Enum):
                values = session.scalars(select(column).where(column.is_not(None)))
                if any(INDEX.match(str(value)) for value in values):
                    holding_indexes.add(f"{table.name}.{column.name}")
    assert holding_indexes == keys.INDEX_LABELS


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
    # And each finds what the others index: a staged server what the switched ones write,
    # a switched server what the others wrote.
    def written(settings: Settings) -> str:
        return cipher_from_settings(settings).blind_index(matching.PHONE_FIELD, "13912345670")

    def looked_up(settings: Settings) -> tuple[str, ...]:
        return cipher_from_settings(settings).blind_indexes(matching.PHONE_FIELD, "13912345670")

    assert written(before) == written(staged) != written(after)
    assert {written(before), written(after)} <= set(looked_up(staged))
    assert written(staged) in looked_up(after)
