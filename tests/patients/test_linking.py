"""Linking source records to people: the worked cases a registration clerk meets."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_institution, register, resident_id_number
from yilian.config import Settings
from yilian.errors import InvalidInput
from yilian.patients.models import LinkMethod, PatientRecord, Person, RecordFlag

BORN = date(1968, 3, 14)
SONG_ID = resident_id_number("130730", BORN, 123, male=False)


def test_same_resident_id_links_at_once(session: Session, settings: Settings) -> None:
    county = make_institution(session)
    beijing = make_institution(session, region_code="110102", level=3)
    first = register(session, settings, county, "000123", name="宋秀兰", sex="female",
                     birth_date=BORN, id_number=SONG_ID)
    second = register(session, settings, beijing, "A-88", name="宋秀兰", sex="female",
                      id_number=SONG_ID.lower())
    assert first.outcome is LinkMethod.NEW_PERSON
    assert second.outcome is LinkMethod.RESIDENT_ID
    assert second.person.id == first.person.id
    assert second.match_probability == 1.0
    # The ID is stored encrypted, never in clear.
    row = session.get(PatientRecord, second.record.id)
    assert row is not None and SONG_ID not in (row.id_number_cipher or "")
    assert row.id_number_masked == SONG_ID[:6] + "********" + SONG_ID[-4:]


def test_homophone_name_without_id_links_by_model(session: Session, settings: Settings) -> None:
    county = make_institution(session)
    beijing = make_institution(session, region_code="110102", level=3)
    first = register(session, settings, county, "000124", name="张伟", sex="male",
                     birth_date=date(1975, 6, 2), phone="13812345678",
                     address="河北省张家口市怀来县沙城镇东大街12号", id_number=resident_id_number(
                         "130730", date(1975, 6, 2), 45, male=True))
    second = register(session, settings, beijing, "A-90", name="张玮", sex="male",
                      birth_date=date(1975, 6, 2), phone="138 1234 5678",
                      address="怀来县沙城镇东大街12")
    assert second.outcome is LinkMethod.PROBABILISTIC
    assert second.person.id == first.person.id
    assert second.match_probability is not None and second.match_probability >= 0.95


def test_same_name_stranger_is_a_new_person(session: Session, settings: Settings) -> None:
    county = make_institution(session)
    register(session, settings, county, "1", name="王芳", sex="female", birth_date=date(1980, 1, 5),
             phone="13900000001", address="怀来县存瑞镇")
    other = register(session, settings, county, "2", name="王芳", sex="female",
                     birth_date=date(1991, 9, 23), phone="13700000002", address="保定市竞秀区")
    assert other.outcome is LinkMethod.NEW_PERSON
    assert session.query(Person).count() == 2


def test_bad_check_digit_is_refused_and_nothing_is_written(
    session: Session, settings: Settings
) -> None:
    county = make_institution(session)
    wrong = SONG_ID[:-1] + ("0" if SONG_ID[-1] != "0" else "1")
    with pytest.raises(InvalidInput) as refused:
        register(session, settings, county, "9", name="宋秀兰", id_number=wrong)
    assert "校验码" in refused.value.zh and "check digit" in refused.value.en
    assert session.query(PatientRecord).count() == 0


def test_birth_date_contradicting_the_id_is_flagged(session: Session, settings: Settings) -> None:
    county = make_institution(session)
    made = register(session, settings, county, "7", name="宋秀兰", sex="male",
                    birth_date=date(1968, 3, 15), id_number=SONG_ID)
    assert RecordFlag.BIRTH_DATE_DIFFERS.value in made.record.flags
    assert RecordFlag.SEX_DIFFERS.value in made.record.flags


def _update(session: Session, settings: Settings, record: PatientRecord, **fields: object):
    from yilian.patients import service as patients
    from yilian.patients.schemas import RecordUpdate

    return patients.update_record(
        session, settings, None, record=record, data=RecordUpdate.model_validate(fields)
    )


def test_gaining_an_id_another_person_holds_moves_the_record_there(
    session: Session, settings: Settings
) -> None:
    county = make_institution(session)
    beijing = make_institution(session, region_code="110102", level=3)
    song = register(session, settings, beijing, "A-88", name="宋秀兰", sex="female",
                    birth_date=BORN, id_number=SONG_ID)
    # Two records of a look-alike without an ID, linked to each other by the model.
    first = register(session, settings, county, "1", name="宋秀英", sex="female",
                     birth_date=date(1972, 5, 9), phone="13900001111", address="怀来县存瑞镇")
    second = register(session, settings, county, "2", name="宋秀英", sex="female",
                      birth_date=date(1972, 5, 9), phone="13900001111", address="怀来县存瑞镇")
    assert second.person.id == first.person.id != song.person.id
    # The clerk finds the second record was really Song's and types her resident ID in.
    moved = _update(session, settings, second.record, id_number=SONG_ID, birth_date=str(BORN),
                    name="宋秀兰")
    assert moved.person.id == song.person.id
    assert moved.outcome is LinkMethod.RESIDENT_ID
    assert [r.id for r in first.person.records] == [first.record.id]


def test_clearing_a_name_or_address_is_allowed(session: Session, settings: Settings) -> None:
    county = make_institution(session)
    made = register(session, settings, county, "5", name="王芳", sex="female",
                    id_number=SONG_ID, address="怀来县")
    changed = _update(session, settings, made.record, address=None, sex=None)
    assert changed.record.address == ""
    assert changed.record.sex.value == "unknown"
    assert changed.person.id == made.person.id


def test_roles_without_patient_rights_cannot_register(
    session: Session, settings: Settings
) -> None:
    from yilian.auth.models import Role
    from yilian.auth.permissions import Principal
    from yilian.errors import PermissionDenied
    from yilian.patients import service as patients
    from yilian.patients.schemas import RecordCreate

    county = make_institution(session)
    analyst = Principal(user_id=1, username="analyst", role=Role.COMMISSION_ANALYST,
                        institution_id=county.id, institution_ids=frozenset({county.id}))
    with pytest.raises(PermissionDenied):
        patients.register_record(session, settings, analyst, data=RecordCreate(
            institution_id=county.id, local_id="x", name="王芳"))
    assert session.query(PatientRecord).count() == 0
