"""Field-key rotation: ``yilian keys status | rotate | retire``.

Rotation without downtime, in three steps:

1. ``rotate`` appends a fresh master key to the keyring (the key file; a configured
   ``YILIAN_FIELD_KEYS`` is the operator's to extend on every server). Running servers
   re-read the key file when it changes, so from then on they encrypt and blind-index new
   values under the new key, and keep decrypting the old ones by the key id each value
   carries and finding them by the indexes every key of the keyring makes.
2. It re-encrypts every encrypted column (:data:`ENCRYPTED_COLUMNS`) and re-makes the blind
   index beside it from the decrypted value, in batches, one transaction per batch, each
   row updated only if its value and index are still the ones read (a row a server changed
   meanwhile is left alone: it is already under the new key, or the next pass takes it).
   Indexes with no ciphertext of their own (:data:`COPIED_INDEXES`: a person's resident
   ID, copied from its records) are re-made from their records' values. Passes repeat until
   no value and no index is under an older key.
3. ``retire KEY_ID`` drops a key from the key file once no value and no index uses it, the
   keyring's first key included; never the key that encrypts.

Lookups ask for the value's index under every key of the keyring (:mod:`yilian.crypto`),
so search by resident ID or phone number finds the same rows before, during and after a
rotation. Two stored indexes of one value under two keys differ, so code comparing indexes
with each other compares them under the current key (``patients.matching.current_id_hash``).
Indexes of the unprefixed form an older Yilian made count as the keyring's first key's;
the next rotation rewrites them, so upgrading needs no migration.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    TableClause,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.orm import Session, sessionmaker

from yilian.config import FIELD_KEY_BYTES, Settings, parse_keyring, write_keyring
from yilian.crypto import FieldCipher, FieldKeys, cipher_for_keyring, cipher_from_settings
from yilian.errors import InvalidInput


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding ``yilian.crypto`` tokens, the field name they are sealed for, and
    the column holding each value's blind index, if it has one."""

    table: str
    column: str
    field: str
    key: str = "id"  # the table's integer primary key, the order batches walk in
    index: str | None = None

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def index_label(self) -> str | None:
        return f"{self.table}.{self.index}" if self.index else None


@dataclass(frozen=True)
class CopiedIndex:
    """A blind-index column with no ciphertext beside it: each row holds a copy of the index
    one of its records holds (``records`` names them, ``link`` their column naming the row),
    so it is re-made from their decrypted values."""

    table: str
    column: str
    records: EncryptedColumn
    link: str
    key: str = "id"

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


# Every column encrypted with the field cipher, with the field names its writers seal and
# index the values for (patients.matching.ID_FIELD, …; tests/test_keys.py checks both, and
# that no encrypted or indexed column is missing). Named, not imported, so the backup needs
# no models.
ENCRYPTED_COLUMNS = (
    EncryptedColumn("patient_record", "id_number_cipher", "patient_record.id_number",
                    index="id_number_hash"),
    EncryptedColumn("patient_record", "phone_cipher", "patient_record.phone",
                    index="phone_hash"),
    EncryptedColumn("webhook_subscription", "secret_encrypted", "webhook_subscription.secret"),
    EncryptedColumn("user_totp", "secret_cipher", "user_totp.secret", key="user_id"),
)
# A person's resident ID is its records' (patients.service._refresh_person keeps it so).
COPIED_INDEXES = (
    CopiedIndex("person", "id_number_hash", records=ENCRYPTED_COLUMNS[0], link="person_id"),
)

RotatedColumn = EncryptedColumn | CopiedIndex


def _table(column: EncryptedColumn) -> TableClause:
    names = [column.key, column.column, *([column.index] if column.index else [])]
    return sa_table(column.table, *(sa_column(name) for name in names))


def _key_id_of(sealed: ColumnElement[str]) -> ColumnElement[str]:
    # A token is "v1.<8 hex digits of key id>.<payload>": characters 4 to 11.
    return func.substr(sealed, 4, 8)


def _index_key_id_of(
    index: ColumnElement[str], legacy_key_id: str | None
) -> ColumnElement[str]:
    # An index is "<8 hex digits of key id>.<base64url>"; one of the older form (64 hex
    # digits, no dot) was made with the keyring's first key.
    named = func.substr(index, 1, 8)
    if legacy_key_id is None:
        return named
    return case((func.substr(index, 9, 1) == ".", named), else_=literal(legacy_key_id))


def _index_not_under(index: ColumnElement[str], key_id: str) -> ColumnElement[bool]:
    return and_(index.is_not(None), func.substr(index, 1, 9) != f"{key_id}.")


def _count_by_key(
    session: Session, key_id: ColumnElement[str], *where: ColumnElement[bool]
) -> dict[str, int]:
    labelled = key_id.label("key_id")
    rows = session.execute(
        select(labelled, func.count()).where(*where).group_by(labelled).order_by(labelled)
    ).all()
    return {str(k): int(n) for k, n in rows}


def status(session: Session, *, legacy_key_id: str | None) -> dict[str, dict[str, int]]:
    """How many values of each encrypted column, and indexes of each blind-index column (see
    :data:`INDEX_LABELS`), are under each key id.

    ``legacy_key_id`` is the key the unprefixed indexes are counted under (the keyring's
    first); None leaves them out (a caller without the keyring, such as the backup).
    """
    counts: dict[str, dict[str, int]] = {}
    for column in ENCRYPTED_COLUMNS:
        table = _table(column)
        sealed = table.c[column.column]
        counts[column.label] = _count_by_key(session, _key_id_of(sealed), sealed.is_not(None))
        if column.index and column.index_label:
            counts[column.index_label] = _indexes_by_key(
                session, table.c[column.index], legacy_key_id)
    for copied in COPIED_INDEXES:
        held = sa_table(copied.table, sa_column(copied.column)).c[copied.column]
        counts[copied.label] = _indexes_by_key(session, held, legacy_key_id)
    return counts


def _indexes_by_key(
    session: Session, index: ColumnElement[str], legacy_key_id: str | None
) -> dict[str, int]:
    where: list[ColumnElement[bool]] = [index.is_not(None)]
    if legacy_key_id is None:
        where.append(func.substr(index, 9, 1) == ".")
    return _count_by_key(session, _index_key_id_of(index, legacy_key_id), *where)


# The labels of status() that count blind indexes; the others count encrypted values.
INDEX_LABELS = frozenset(
    [*(c.index_label for c in ENCRYPTED_COLUMNS if c.index_label),
     *(c.label for c in COPIED_INDEXES)]
)


@dataclass
class KeyUse:
    """What one key still holds: encrypted values and blind indexes."""

    values: int = 0
    indexes: int = 0

    def __bool__(self) -> bool:
        return bool(self.values or self.indexes)


def use_by_key(counts: dict[str, dict[str, int]]) -> dict[str, KeyUse]:
    """The counts of :func:`status` summed per key id, values and indexes apart."""
    total: dict[str, KeyUse] = {}
    for label, per_key in counts.items():
        for key_id, count in per_key.items():
            use = total.setdefault(key_id, KeyUse())
            if label in INDEX_LABELS:
                use.indexes += count
            else:
                use.values += count
    return total


def values_by_key(session: Session, *, legacy_key_id: str | None) -> dict[str, int]:
    """How many encrypted values and blind indexes are under each key id, over all columns."""
    return {key_id: use.values + use.indexes
            for key_id, use in use_by_key(status(session, legacy_key_id=legacy_key_id)).items()}


@dataclass
class RotationReport:
    """What a re-encryption did."""

    key_id: str
    reencrypted: dict[str, int] = field(default_factory=dict)
    reindexed: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    passes: int = 0
    left_over: int = 0  # values and indexes still under an older key after the last pass

    def summary(self) -> str:
        done = ", ".join(f"{label} {n}" for label, n in self.reencrypted.items())
        indexed = ", ".join(f"{label} {n}" for label, n in self.reindexed.items())
        return (f"re-encrypted under key {self.key_id}: {done}; re-indexed: {indexed} "
                f"({self.batches} batches, {self.passes} passes)")


def _add(counts: dict[str, int], label: str, number: int) -> None:
    counts[label] = counts.get(label, 0) + number


def reencrypt(
    factory: sessionmaker[Session],
    cipher_of: Callable[[], FieldCipher],
    *,
    batch_size: int = 500,
    max_passes: int = 5,
    after_batch: Callable[[RotatedColumn, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every value and re-index every blind index not under the cipher's current
    key, one transaction per batch.

    ``cipher_of`` is asked again for each batch, so a keyring changed meanwhile is used.
    ``after_batch`` (for tests and progress) runs after each committed batch.
    """
    report = RotationReport(key_id=cipher_of().key_id)
    for _ in range(max_passes):
        report.passes += 1
        changed_this_pass = 0
        for column in ENCRYPTED_COLUMNS:
            sealed, indexed = _reencrypt_column(factory, cipher_of, column, batch_size, report,
                                                after_batch)
            _add(report.reencrypted, column.label, sealed)
            if column.index_label:
                _add(report.reindexed, column.index_label, indexed)
            changed_this_pass += sealed + indexed
        for copied in COPIED_INDEXES:
            indexed = _reindex_copies(factory, cipher_of, copied, batch_size, report,
                                      after_batch)
            _add(report.reindexed, copied.label, indexed)
            changed_this_pass += indexed
        with factory() as session:
            cipher = cipher_of()
            report.key_id = cipher.key_id
            report.left_over = sum(
                n for key_id, n in values_by_key(
                    session, legacy_key_id=cipher.legacy_index_key_id).items()
                if key_id != cipher.key_id
            )
        if report.left_over == 0 or changed_this_pass == 0:
            break
    return report


def _reencrypt_column(
    factory: sessionmaker[Session],
    cipher_of: Callable[[], FieldCipher],
    column: EncryptedColumn,
    batch_size: int,
    report: RotationReport,
    after_batch: Callable[[RotatedColumn, int], None] | None,
) -> tuple[int, int]:
    """Values re-encrypted and indexes re-made in this column, batch by batch."""
    table = _table(column)
    primary, sealed = table.c[column.key], table.c[column.column]
    indexed = table.c[column.index] if column.index else None
    reencrypted = reindexed = 0
    last_id = 0
    while True:
        cipher = cipher_of()
        stale = _key_id_of(sealed) != cipher.key_id
        if indexed is not None:
            stale = or_(stale, _index_not_under(indexed, cipher.key_id))
        with factory() as session, session.begin():
            rows = session.execute(
                select(primary, sealed, indexed if indexed is not None else null())
                .where(sealed.is_not(None), stale, primary > last_id)
                .order_by(primary)
                .limit(batch_size)
            ).all()
            if not rows:
                return reencrypted, reindexed
            changes = []
            for row_id, token, index in rows:
                value = cipher.decrypt(column.field, token)
                # A value already under the current key (its index was not) keeps its token.
                new_token = token
                if cipher.token_key_id(token) != cipher.key_id:
                    new_token = cipher.encrypt(column.field, value)
                    reencrypted += 1
                new_index = index
                # One of the old unprefixed form is rewritten even under the current key.
                if index is not None and not index.startswith(f"{cipher.key_id}."):
                    new_index = cipher.blind_index(column.field, value)
                    reindexed += 1
                changes.append({"b_id": row_id, "b_old": token, "b_new": new_token,
                                "b_old_index": index, "b_new_index": new_index})
            guard = [primary == bindparam("b_id"), sealed == bindparam("b_old")]
            new_values: dict[str, BindParameter[Any]] = {column.column: bindparam("b_new")}
            if indexed is not None and column.index:
                guard.append(indexed.is_not_distinct_from(bindparam("b_old_index")))
                new_values[column.index] = bindparam("b_new_index")
            session.connection().execute(update(table).where(*guard).values(new_values),
                                         changes)
        last_id = rows[-1][0]
        report.batches += 1
        if after_batch is not None:
            after_batch(column, len(rows))


def _reindex_copies(
    factory: sessionmaker[Session],
    cipher_of: Callable[[], FieldCipher],
    copied: CopiedIndex,
    batch_size: int,
    report: RotationReport,
    after_batch: Callable[[RotatedColumn, int], None] | None,
) -> int:
    """Copied indexes re-made from their records' values, batch by batch.

    A row none of whose records holds its index (there should be none) keeps it, and is
    left over.
    """
    table = sa_table(copied.table, sa_column(copied.key), sa_column(copied.column))
    primary, held = table.c[copied.key], table.c[copied.column]
    records = sa_table(copied.records.table, sa_column(copied.link),
                       sa_column(copied.records.column))
    owner, sealed = records.c[copied.link], records.c[copied.records.column]
    reindexed, last_id = 0, 0
    while True:
        cipher = cipher_of()
        with factory() as session, session.begin():
            rows = session.execute(
                select(primary, held)
                .where(_index_not_under(held, cipher.key_id), primary > last_id)
                .order_by(primary)
                .limit(batch_size)
            ).all()
            if not rows:
                return reindexed
            tokens: dict[int, list[str]] = {}
            for row_id, token in session.execute(
                select(owner, sealed).where(owner.in_([row[0] for row in rows]),
                                            sealed.is_not(None))
            ):
                tokens.setdefault(row_id, []).append(token)
            changes = []
            for row_id, index in rows:
                remade = _remade_index(cipher, copied.records.field, index,
                                       tokens.get(row_id, []))
                if remade is not None:
                    changes.append({"b_id": row_id, "b_old": index, "b_new": remade})
            if changes:
                session.connection().execute(
                    update(table)
                    .where(primary == bindparam("b_id"), held == bindparam("b_old"))
                    .values({copied.column: bindparam("b_new")}),
                    changes,
                )
        last_id = rows[-1][0]
        reindexed += len(changes)
        report.batches += 1
        if after_batch is not None:
            after_batch(copied, len(rows))


def _remade_index(
    cipher: FieldCipher, field_name: str, index: str, tokens: Sequence[str]
) -> str | None:
    """The index under the current key of the value, among the tokens, the index names."""
    for token in tokens:
        value = cipher.decrypt(field_name, token)
        if index in cipher.blind_indexes(field_name, value):
            return cipher.blind_index(field_name, value)
    return None


def new_master_key() -> bytes:
    """A fresh random master key."""
    return secrets.token_bytes(FIELD_KEY_BYTES)


def _refuse_configured(settings: Settings, what: str) -> None:
    if settings.field_keys_from_environment:
        raise InvalidInput(
            "field_keys_configured",
            f"字段密钥来自 YILIAN_FIELD_KEY(S)，无法{what}；请在每台服务器的 YILIAN_FIELD_KEYS "
            "中修改后运行 yilian keys rotate --no-new-key",
            f"The field keys come from YILIAN_FIELD_KEY(S), so they cannot be {what} here: "
            "change YILIAN_FIELD_KEYS on every server, then run "
            "`yilian keys rotate --no-new-key`",
        )


def install_new_key(settings: Settings) -> str:
    """Append a fresh master key to the key file; the id of its encryption key."""
    _refuse_configured(settings, "changed")
    keys = settings.resolved_field_keys()
    fresh = new_master_key()
    write_keyring(settings.field_key_file, (*keys, fresh))
    return FieldKeys.derive(fresh).key_id


def key_ids(settings: Settings) -> list[str]:
    """The ids of the keyring's keys, oldest first."""
    return [FieldKeys.derive(key).key_id for key in settings.resolved_field_keys()]


def retire(session: Session, settings: Settings, key_id: str) -> None:
    """Drop a key from the key file; refused for the key that encrypts, and while a value or
    a blind index uses it."""
    _refuse_configured(settings, "retired")
    keys = parse_keyring(settings.field_key_file.read_text(encoding="utf-8"),
                         str(settings.field_key_file))
    ids = [FieldKeys.derive(key).key_id for key in keys]
    if key_id not in ids:
        raise InvalidInput("field_key_unknown", f"密钥环中没有密钥 {key_id}",
                           f"The keyring has no key {key_id}")
    if ids[-1] == key_id:
        raise InvalidInput("field_key_current", f"密钥 {key_id} 正用于加密新数据，不能停用",
                           f"Key {key_id} encrypts new values; rotate first")
    use = use_by_key(status(session, legacy_key_id=ids[0])).get(key_id, KeyUse())
    if use:
        raise InvalidInput(
            "field_key_in_use",
            f"仍有 {use.values} 个加密值和 {use.indexes} 个盲索引使用密钥 {key_id}；"
            "请先运行 yilian keys rotate --no-new-key",
            f"{use.values} values and {use.indexes} blind indexes are still under key "
            f"{key_id}; run `yilian keys rotate --no-new-key` first",
        )
    write_keyring(settings.field_key_file,
                  tuple(key for key, kid in zip(keys, ids, strict=True) if kid != key_id))


__all__ = [
    "COPIED_INDEXES",
    "ENCRYPTED_COLUMNS",
    "INDEX_LABELS",
    "CopiedIndex",
    "EncryptedColumn",
    "KeyUse",
    "RotatedColumn",
    "RotationReport",
    "cipher_for_keyring",
    "cipher_from_settings",
    "install_new_key",
    "key_ids",
    "reencrypt",
    "retire",
    "status",
    "use_by_key",
    "values_by_key",
]
