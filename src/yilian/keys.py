"""Field-key rotation: ``yilian keys status | rotate | retire``.

Rotation without downtime, in three steps:

1. ``rotate`` appends a fresh master key to the keyring (the key file; a configured
   ``YILIAN_FIELD_KEYS`` is the operator's to extend on every server). Running servers
   re-read the key file when it changes, so from then on they encrypt new values under
   the new key and keep decrypting the old ones by the key id each value carries.
2. It re-encrypts every encrypted column (:data:`ENCRYPTED_COLUMNS`) in batches, one
   transaction per batch, each value updated only if it is still the one read (a value a
   server changed meanwhile is left alone: it is already under the new key, or the next
   pass takes it). Passes repeat until no value is under an older key.
3. ``retire KEY_ID`` drops an old key from the key file once no value uses it.

Blind indexes are not touched: their key stays the one derived from the keyring's first
master key (see :mod:`yilian.crypto`), so lookups by resident ID or phone number find the
same rows before, during and after a rotation.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, TableClause, bindparam, func, select, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.orm import Session, sessionmaker

from yilian.config import FIELD_KEY_BYTES, Settings, parse_keyring, write_keyring
from yilian.crypto import FieldCipher, FieldKeys, cipher_for_keyring, cipher_from_settings
from yilian.errors import InvalidInput


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding ``yilian.crypto`` tokens, and the field name they are sealed for."""

    table: str
    column: str
    field: str
    key: str = "id"  # the table's integer primary key, the order batches walk in

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


# Every column encrypted with the field cipher, with the field names its writers seal the
# values for (patients.matching.ID_FIELD, …; tests/test_keys.py checks both, and that no
# encrypted column is missing). Named, not imported, so the backup needs no models.
ENCRYPTED_COLUMNS = (
    EncryptedColumn("patient_record", "id_number_cipher", "patient_record.id_number"),
    EncryptedColumn("patient_record", "phone_cipher", "patient_record.phone"),
    EncryptedColumn("webhook_subscription", "secret_encrypted", "webhook_subscription.secret"),
    EncryptedColumn("user_totp", "secret_cipher", "user_totp.secret", key="user_id"),
)


def _table(column: EncryptedColumn) -> TableClause:
    return sa_table(column.table, sa_column(column.key), sa_column(column.column))


def _key_id_of(table: TableClause, column: EncryptedColumn) -> ColumnElement[str]:
    # A token is "v1.<8 hex digits of key id>.<payload>": characters 4 to 11.
    return func.substr(table.c[column.column], 4, 8)


def status(session: Session) -> dict[str, dict[str, int]]:
    """How many values of each encrypted column are under each key id."""
    counts: dict[str, dict[str, int]] = {}
    for column in ENCRYPTED_COLUMNS:
        table = _table(column)
        key_id = _key_id_of(table, column).label("key_id")
        rows = session.execute(
            select(key_id, func.count())
            .where(table.c[column.column].is_not(None))
            .group_by(key_id)
            .order_by(key_id)
        ).all()
        counts[column.label] = {str(k): int(n) for k, n in rows}
    return counts


def values_by_key(session: Session) -> dict[str, int]:
    """How many encrypted values are under each key id, over all columns."""
    total: dict[str, int] = {}
    for per_key in status(session).values():
        for key_id, count in per_key.items():
            total[key_id] = total.get(key_id, 0) + count
    return total


@dataclass
class RotationReport:
    """What a re-encryption did."""

    key_id: str
    reencrypted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    passes: int = 0
    left_over: int = 0  # values still under an older key after the last pass

    def summary(self) -> str:
        done = ", ".join(f"{label} {n}" for label, n in self.reencrypted.items())
        return (f"re-encrypted under key {self.key_id}: {done} "
                f"({self.batches} batches, {self.passes} passes)")


def reencrypt(
    factory: sessionmaker[Session],
    cipher_of: Callable[[], FieldCipher],
    *,
    batch_size: int = 500,
    max_passes: int = 5,
    after_batch: Callable[[EncryptedColumn, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every value not under the cipher's current key, one transaction per batch.

    ``cipher_of`` is asked again for each batch, so a keyring changed meanwhile is used.
    ``after_batch`` (for tests and progress) runs after each committed batch.
    """
    report = RotationReport(key_id=cipher_of().key_id)
    for _ in range(max_passes):
        report.passes += 1
        changed_this_pass = 0
        for column in ENCRYPTED_COLUMNS:
            changed = _reencrypt_column(factory, cipher_of, column, batch_size, report,
                                        after_batch)
            report.reencrypted[column.label] = report.reencrypted.get(column.label, 0) + changed
            changed_this_pass += changed
        with factory() as session:
            current = cipher_of().key_id
            report.key_id = current
            report.left_over = sum(
                n for key_id, n in values_by_key(session).items() if key_id != current
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
    after_batch: Callable[[EncryptedColumn, int], None] | None,
) -> int:
    table = _table(column)
    primary, sealed = table.c[column.key], table.c[column.column]
    changed, last_id = 0, 0
    while True:
        cipher = cipher_of()
        with factory() as session, session.begin():
            rows = session.execute(
                select(primary, sealed)
                .where(sealed.is_not(None), _key_id_of(table, column) != cipher.key_id,
                       primary > last_id)
                .order_by(primary)
                .limit(batch_size)
            ).all()
            if not rows:
                return changed
            session.connection().execute(
                update(table)
                .where(primary == bindparam("b_id"), sealed == bindparam("b_old"))
                .values({column.column: bindparam("b_new")}),
                [
                    {"b_id": row_id, "b_old": token,
                     "b_new": cipher.encrypt(column.field, cipher.decrypt(column.field, token))}
                    for row_id, token in rows
                ],
            )
        last_id = rows[-1][0]
        changed += len(rows)
        report.batches += 1
        if after_batch is not None:
            after_batch(column, len(rows))


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
    """Drop a key from the key file; refused while a value uses it, or for the index key."""
    _refuse_configured(settings, "retired")
    keys = parse_keyring(settings.field_key_file.read_text(encoding="utf-8"),
                         str(settings.field_key_file))
    ids = [FieldKeys.derive(key).key_id for key in keys]
    if key_id not in ids:
        raise InvalidInput("field_key_unknown", f"密钥环中没有密钥 {key_id}",
                           f"The keyring has no key {key_id}")
    if ids.index(key_id) == 0:
        raise InvalidInput(
            "field_key_indexes",
            f"密钥 {key_id} 是盲索引密钥的来源，不能停用",
            f"Key {key_id} is the keyring's first: the blind indexes are keyed from it, "
            "so it stays",
        )
    if ids[-1] == key_id:
        raise InvalidInput("field_key_current", f"密钥 {key_id} 正用于加密新数据，不能停用",
                           f"Key {key_id} encrypts new values; rotate first")
    in_use = values_by_key(session).get(key_id, 0)
    if in_use:
        raise InvalidInput(
            "field_key_in_use",
            f"仍有 {in_use} 个值使用密钥 {key_id}；请先运行 yilian keys rotate --no-new-key",
            f"{in_use} values are still under key {key_id}; "
            "run `yilian keys rotate --no-new-key` first",
        )
    write_keyring(settings.field_key_file,
                  tuple(key for key, kid in zip(keys, ids, strict=True) if kid != key_id))


__all__ = [
    "ENCRYPTED_COLUMNS",
    "EncryptedColumn",
    "RotationReport",
    "cipher_for_keyring",
    "cipher_from_settings",
    "install_new_key",
    "key_ids",
    "reencrypt",
    "retire",
    "status",
    "values_by_key",
]
