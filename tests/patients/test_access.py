"""Who sees whom: the one-person check agrees with the visible set, through shares and merges."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from tests.factories import make_institution, make_user, register
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.patients import access
from yilian.patients.merging import merge_persons
from yilian.patients.models import Person
from yilian.patients.schemas import ShareCreate


def test_a_share_follows_a_merge_a_revoked_one_does_not_and_both_checks_agree(
    session: Session, settings: Settings
) -> None:
    county, beijing, elsewhere = (make_institution(session) for _ in range(3))
    campus = make_institution(session, parent_code=beijing.code)

    def person_at(institution_code: str, local_id: str, name: str, born: date) -> Person:
        institution = {i.code: i for i in (county, beijing, elsewhere, campus)}[institution_code]
        return register(session, settings, institution, local_id, name=name, sex="female",
                        birth_date=born).person

    own = person_at(beijing.code, "B1", "王秀英", date(1950, 1, 1))
    at_campus = person_at(campus.code, "C1", "李桂芳", date(1951, 2, 2))
    shared_then_merged = person_at(county.code, "H1", "张玉兰", date(1952, 3, 3))
    survivor = person_at(county.code, "H2", "刘淑珍", date(1953, 4, 4))
    revoked = person_at(county.code, "H3", "陈凤英", date(1954, 5, 5))
    unrelated = person_at(elsewhere.code, "E1", "杨秀兰", date(1955, 6, 6))
    access.share_person(session, None, person=shared_then_merged,
                        data=ShareCreate(institution_id=beijing.id, source_ref="ServiceRequest/1"))
    gone = access.share_person(session, None, person=revoked,
                               data=ShareCreate(institution_id=beijing.id))
    access.revoke_share(session, None, person=revoked, share_id=gone.id)
    merge_persons(session, settings, None, survivor_id=survivor.id,
                  retired_id=shared_then_merged.id, reason="同一人")
    clinician = make_user(session, role=Role.CLINICIAN, institution=beijing)
    outsider = make_user(session, role=Role.CLINICIAN, institution=elsewhere)
    session.commit()

    beijing_view = users.principal_for(session, user=clinician)
    seen = {
        person.id
        for person in (own, at_campus, shared_then_merged, survivor, revoked, unrelated)
        if access.can_view(session, beijing_view, person)
    }
    # Its own patient, its campus's, and the merged person (the share moved to the survivor).
    assert seen == {own.id, at_campus.id, shared_then_merged.id, survivor.id}

    for principal in (beijing_view, users.principal_for(session, user=outsider)):
        visible = access.visible_person_ids(principal)
        assert visible is not None
        in_set = set(session.scalars(visible))
        for person in (own, at_campus, survivor, revoked, unrelated):
            assert access.can_view(session, principal, person) == (person.id in in_set), (
                principal.username, person.id)
