"""The reference data a recognition check judges by, held in process and kept fresh.

A check needs the catalogue (validity, scopes, groups), every performer's HR marks and
where each institution stands (region, campus family, consortia). They change rarely and
are small next to the results index, so each process keeps one copy per database and
checks that it is current with a *stamp*: the row count and newest change of each source
table, read as scalar subqueries of the same statement that fetches the results (no extra
round trip). A different stamp reloads the copy. So a change made by any process, a
migration, a bulk load or a truncating test is seen by the next check, not after a timeout.

A session that has itself flushed changes to these tables in its open transaction neither
uses nor stores the shared copy: it loads its own, so uncommitted data never leaks into
the copy other sessions use.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Engine, event, func, select
from sqlalchemy.orm import Session, UOWTransaction

from yilian.registry.models import (
    CONSORTIUM_TYPES,
    Agreement,
    AgreementParty,
    AgreementStatus,
    AgreementType,
    Institution,
)
from yilian.results.models import HrScope, ItemCategory, Qualification, RecognitionItem
from yilian.results.recognition import HeldQualification, Place

# Agreements whose parties count as one 医联体 for 医联体HR: the consortium types, and a
# trusteeship (the lead runs the trusteed hospital as its campus).
CONSORTIUM_AGREEMENTS = frozenset({*CONSORTIUM_TYPES, AgreementType.TRUSTEESHIP})

# The tables the copy is made of; a flush touching one of them marks the session.
SOURCES: tuple[type[Any], ...] = (RecognitionItem, Qualification, Institution, Agreement,
                                  AgreementParty)
_DIRTY = "results.reference_dirty"


@dataclass(frozen=True)
class CatalogueEntry:
    """What a check reads of a catalogue item."""

    code: str
    name: str
    category: ItemCategory
    item_group: str
    validity_days: int
    price: Decimal
    scope_set: frozenset[HrScope]


@dataclass(frozen=True)
class Reference:
    """One consistent copy of the reference data, with the stamp it was read at."""

    stamp: tuple[Any, ...]
    items: dict[str, CatalogueEntry]
    marks: dict[int, tuple[HeldQualification, ...]]  # by performing institution
    places: dict[int, Place]


def stamp_columns() -> list[ColumnElement[Any]]:
    """Scalar subqueries whose values change whenever a source table changes."""
    return [
        select(func.count(RecognitionItem.id)).scalar_subquery(),
        select(func.max(RecognitionItem.updated_at)).scalar_subquery(),
        select(func.count(Qualification.id)).scalar_subquery(),
        select(func.max(Qualification.updated_at)).scalar_subquery(),
        select(func.count(Institution.id)).scalar_subquery(),
        select(func.max(Institution.updated_at)).scalar_subquery(),
        select(func.count(Agreement.id)).scalar_subquery(),
        select(func.max(Agreement.updated_at)).scalar_subquery(),
        # Parties have no timestamp: their count and the sums of both keys stand for them.
        select(func.count(AgreementParty.agreement_id)).scalar_subquery(),
        select(func.sum(AgreementParty.agreement_id)).scalar_subquery(),
        select(func.sum(AgreementParty.institution_id)).scalar_subquery(),
    ]


STAMP_WIDTH = len(stamp_columns())

_copies: dict[str, Reference] = {}
_lock = threading.Lock()


def _database_key(session: Session) -> str:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


def _load(session: Session, stamp: tuple[Any, ...]) -> Reference:
    """Read the whole reference data: four statements."""
    items = {
        row.code: CatalogueEntry(row.code, row.name, row.category, row.item_group,
                                 row.validity_days, row.price,
                                 frozenset(HrScope(p) for p in row.scopes.split("|") if p))
        for row in session.execute(select(
            RecognitionItem.code, RecognitionItem.name, RecognitionItem.category,
            RecognitionItem.item_group, RecognitionItem.validity_days, RecognitionItem.price,
            RecognitionItem.scopes))
    }
    marks: dict[int, list[HeldQualification]] = {}
    for row in session.execute(select(
        Qualification.institution_id, Qualification.item_code, Qualification.item_group,
        Qualification.scope, Qualification.valid_from, Qualification.valid_to,
    ).order_by(Qualification.id)):
        marks.setdefault(row.institution_id, []).append(HeldQualification(*row))
    regions: dict[int, str] = {}
    consortia: dict[int, set[int]] = {}
    for institution_id, region_code, parent_id in session.execute(
        select(Institution.id, Institution.region_code, Institution.parent_id)
    ):
        regions[institution_id] = region_code
        # A campus and the hospital running it are one network (a pseudo-consortium).
        consortia[institution_id] = {-(parent_id or institution_id)}
    for institution_id, agreement_id in session.execute(
        select(AgreementParty.institution_id, AgreementParty.agreement_id)
        .join(Agreement, Agreement.id == AgreementParty.agreement_id)
        .where(Agreement.type.in_(sorted(CONSORTIUM_AGREEMENTS)),
               Agreement.status == AgreementStatus.ACTIVE)
    ):
        if institution_id in consortia:
            consortia[institution_id].add(agreement_id)
    places = {i: Place(i, regions[i], frozenset(consortia[i])) for i in regions}
    return Reference(stamp, items, {i: tuple(m) for i, m in marks.items()}, places)


def read_stamp(session: Session) -> tuple[Any, ...]:
    """The current stamp, in its own statement (for callers with no statement to join)."""
    return tuple(session.execute(select(*stamp_columns())).one())


def current(session: Session, stamp: Sequence[Any] | None = None) -> Reference:
    """The reference data as this session sees it, from the shared copy when it is current.

    ``stamp``: the stamp read in the caller's own statement; read here when not given.
    """
    stamp = tuple(stamp) if stamp is not None else read_stamp(session)
    if session.info.get(_DIRTY):
        return _load(session, stamp)
    key = _database_key(session)
    copy = _copies.get(key)
    if copy is not None and copy.stamp == stamp:
        return copy
    fresh = _load(session, stamp)
    with _lock:
        _copies[key] = fresh
    return fresh


def forget() -> None:
    """Drop every shared copy (the next check reloads)."""
    with _lock:
        _copies.clear()


@event.listens_for(Session, "after_flush")
def _mark_dirty(session: Session, _flush: UOWTransaction) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(instance, SOURCES) for instance in changed):
        session.info[_DIRTY] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _clear_dirty(session: Session) -> None:
    session.info.pop(_DIRTY, None)
