"""Field encryption at rest and blind indexes: no database needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from yilian.config import Settings
from yilian.crypto import FieldCipher, FieldDecryptionError, FieldKeys, cipher_from_settings

ID_FIELD = "patient_record.id_number"
CARD_FIELD = "patient_record.insurance_card_number"
ID_NUMBER = "11010519491231002X"


def settings_with_key_file(tmp_path: Path) -> Settings:
    return Settings(field_key=None, field_key_file=tmp_path / "yilian.fieldkey")


def settings_with_key(key: bytes) -> Settings:
    return Settings(field_key=SecretStr(base64.b64encode(key).decode("ascii")))


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher.from_master_key(os.urandom(32))


def test_round_trip(cipher: FieldCipher) -> None:
    token = cipher.encrypt(ID_FIELD, ID_NUMBER)
    assert cipher.decrypt(ID_FIELD, token) == ID_NUMBER
    assert cipher.decrypt(ID_FIELD, cipher.encrypt(ID_FIELD, "张三 ")) == "张三 "


def test_token_names_version_and_key(cipher: FieldCipher) -> None:
    version, key_id, payload = cipher.encrypt(ID_FIELD, ID_NUMBER).split(".")
    assert (version, key_id) == ("v1", cipher.key_id)
    assert len(key_id) == 8
    assert ID_NUMBER not in payload


def test_same_value_encrypts_differently_but_indexes_the_same(cipher: FieldCipher) -> None:
    assert cipher.encrypt(ID_FIELD, ID_NUMBER) != cipher.encrypt(ID_FIELD, ID_NUMBER)
    index = cipher.blind_index(ID_FIELD, ID_NUMBER)
    assert index == cipher.blind_index(ID_FIELD, ID_NUMBER)
    assert index != cipher.blind_index(ID_FIELD, "110105194912310021")


def test_an_index_names_the_key_that_made_it(cipher: FieldCipher) -> None:
    key_id, digest = cipher.blind_index(ID_FIELD, ID_NUMBER).split(".")
    assert key_id == cipher.key_id == cipher.index_key_id(f"{key_id}.{digest}")
    assert len(digest) == 43  # base64url of 32 bytes: the whole index fits 64 characters
    assert ID_NUMBER not in digest


def test_a_lookup_asks_for_the_value_under_every_key_of_the_keyring() -> None:
    first, second, staged = (os.urandom(32) for _ in range(3))
    before = FieldCipher.from_keyring([first])
    after = FieldCipher.from_keyring([first, second], staged=[staged])
    ahead = FieldCipher.from_keyring([first, second, staged])
    # Indexes made under any key the cipher knows are found by its lookups, and the newest
    # active key makes the new ones.
    candidates = after.blind_indexes(ID_FIELD, ID_NUMBER)
    assert before.blind_index(ID_FIELD, ID_NUMBER) in candidates
    assert ahead.blind_index(ID_FIELD, ID_NUMBER) in candidates
    assert after.blind_index(ID_FIELD, ID_NUMBER) == candidates[0]
    assert after.index_key_id(candidates[0]) == FieldKeys.derive(second).key_id
    # Only this value's indexes: another value's are not among them.
    assert not set(candidates) & set(after.blind_indexes(ID_FIELD, "110105194912310021"))
    # A key the cipher does not know is not looked up.
    stranger = FieldCipher.from_master_key(os.urandom(32))
    assert stranger.blind_index(ID_FIELD, ID_NUMBER) not in candidates


def test_an_index_of_the_old_unprefixed_form_is_the_first_keys() -> None:
    first, second = os.urandom(32), os.urandom(32)
    # As indexes were made before they named their key: 64 hex digits of HMAC-SHA256 of the
    # field, NUL and the value, under the first master key's index key.
    old = hmac.new(FieldKeys.derive(first).index_key, f"{ID_FIELD}\0{ID_NUMBER}".encode(),
                   hashlib.sha256).hexdigest()
    rotated = FieldCipher.from_keyring([first, second])
    assert old in rotated.blind_indexes(ID_FIELD, ID_NUMBER)
    assert rotated.index_key_id(old) == FieldKeys.derive(first).key_id
    assert rotated.index_key_id("not an index") == ""


def test_blind_index_differs_between_fields_and_keys(cipher: FieldCipher) -> None:
    assert cipher.blind_index(ID_FIELD, ID_NUMBER) != cipher.blind_index(CARD_FIELD, ID_NUMBER)
    other = FieldCipher.from_master_key(os.urandom(32))
    assert cipher.blind_index(ID_FIELD, ID_NUMBER) != other.blind_index(ID_FIELD, ID_NUMBER)


def test_blind_index_trims_and_reads_full_width(cipher: FieldCipher) -> None:
    assert cipher.blind_index(ID_FIELD, " １１０１ ") == cipher.blind_index(ID_FIELD, "1101")


def test_tampering_is_detected(cipher: FieldCipher) -> None:
    token = cipher.encrypt(ID_FIELD, ID_NUMBER)
    prefix, payload = token.rsplit(".", 1)
    for position in (0, len(payload) // 2, len(payload) - 2):
        flipped = "A" if payload[position] != "A" else "B"
        tampered = f"{prefix}.{payload[:position]}{flipped}{payload[position + 1:]}"
        with pytest.raises(FieldDecryptionError, match="altered"):
            cipher.decrypt(ID_FIELD, tampered)
    with pytest.raises(FieldDecryptionError, match="damaged"):
        cipher.decrypt(ID_FIELD, f"{prefix}.{payload[:20]}")
    with pytest.raises(FieldDecryptionError, match="format"):
        cipher.decrypt(ID_FIELD, ID_NUMBER)


def test_ciphertext_moved_to_another_field_fails(cipher: FieldCipher) -> None:
    token = cipher.encrypt(ID_FIELD, ID_NUMBER)
    with pytest.raises(FieldDecryptionError, match="another field"):
        cipher.decrypt(CARD_FIELD, token)


def test_a_different_key_cannot_decrypt(cipher: FieldCipher) -> None:
    token = cipher.encrypt(ID_FIELD, ID_NUMBER)
    other = FieldCipher.from_master_key(os.urandom(32))
    with pytest.raises(FieldDecryptionError, match=f"encrypted with key {cipher.key_id}"):
        other.decrypt(ID_FIELD, token)
    # Even with the key id forged to the other key's, authentication fails.
    forged = token.replace(cipher.key_id, other.key_id, 1)
    with pytest.raises(FieldDecryptionError, match="altered"):
        other.decrypt(ID_FIELD, forged)


def test_previous_keys_still_decrypt() -> None:
    old_keys = FieldKeys.derive(os.urandom(32))
    old_token = FieldCipher(old_keys).encrypt(ID_FIELD, ID_NUMBER)
    rotated = FieldCipher(FieldKeys.derive(os.urandom(32)), previous=[old_keys])
    assert rotated.decrypt(ID_FIELD, old_token) == ID_NUMBER
    assert rotated.encrypt(ID_FIELD, ID_NUMBER).split(".")[1] == rotated.key_id != old_keys.key_id


def test_keys_are_derived_apart_and_never_printed() -> None:
    master = bytes(range(32))
    keys = FieldKeys.derive(master)
    assert keys == FieldKeys.derive(master)
    assert len({keys.encryption_key, keys.index_key, master}) == 3
    assert repr(keys) == f"FieldKeys(key_id={keys.key_id!r})"


def test_field_names_may_not_be_empty_or_hold_nul(cipher: FieldCipher) -> None:
    with pytest.raises(ValueError, match="field name"):
        cipher.encrypt("", ID_NUMBER)
    with pytest.raises(ValueError, match="field name"):
        cipher.blind_index("patient\x00record", ID_NUMBER)


def test_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    settings = settings_with_key_file(tmp_path)
    token = cipher_from_settings(settings).encrypt(ID_FIELD, ID_NUMBER)
    key_file = tmp_path / "yilian.fieldkey"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text(encoding="utf-8").strip())) == 32
    assert list(tmp_path.iterdir()) == [key_file]  # no temporary file left behind

    again = cipher_from_settings(settings_with_key_file(tmp_path))
    assert again.decrypt(ID_FIELD, token) == ID_NUMBER
    assert cipher_from_settings(settings) is cipher_from_settings(settings)


def test_configured_key_wins_and_no_file_is_written(tmp_path: Path) -> None:
    key = os.urandom(32)
    settings = Settings(
        field_key=SecretStr(base64.b64encode(key).decode("ascii")),
        field_key_file=tmp_path / "yilian.fieldkey",
    )
    token = cipher_from_settings(settings).encrypt(ID_FIELD, ID_NUMBER)
    assert FieldCipher.from_master_key(key).decrypt(ID_FIELD, token) == ID_NUMBER
    assert not settings.field_key_file.exists()
    # The URL-safe base64 alphabet is read too.
    urlsafe = Settings(field_key=SecretStr(base64.urlsafe_b64encode(key).decode("ascii")))
    assert cipher_from_settings(urlsafe).decrypt(ID_FIELD, token) == ID_NUMBER


def test_a_malformed_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    short = base64.b64encode(b"too short").decode("ascii")
    with pytest.raises(ValueError, match="YILIAN_FIELD_KEY must be base64 of 32 bytes") as caught:
        settings_with_key(b"too short").resolved_field_key()
    assert short not in str(caught.value)
    damaged = tmp_path / "yilian.fieldkey"
    damaged.write_text("not base64!", encoding="utf-8")
    with pytest.raises(ValueError, match="must be base64"):
        settings_with_key_file(tmp_path).resolved_field_key()
    assert damaged.read_text(encoding="utf-8") == "not base64!"  # never silently replaced
