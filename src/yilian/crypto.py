"""Encryption at rest for sensitive patient fields, and blind indexes to find them again.

A field value (a resident ID number, an insurance card number) is stored as
``v1.<key_id>.<base64url(nonce || ciphertext)>``: AES-256-GCM with a fresh 96-bit nonce
per value and the field's name as associated data, so a ciphertext copied into another
column does not decrypt. ``key_id`` names the key that encrypted it, for key rotation.

Exact lookup without decrypting uses a blind index: HMAC-SHA256 of the field name and the
value under a separate key, stored as ``<key_id>.<base64url(hmac)>`` (52 characters), the
key id naming the key that made it. Equal values in one field under one key give equal
indexes; the same value in two fields does not, so indexes cannot be joined across columns.

Both keys are derived with HKDF-SHA256 from a master key (``Settings.field_key`` or the
generated ``field_key_file``). Losing the master key loses every encrypted value.

Key rotation (``yilian keys rotate``, ``yilian.keys``): the master keys form a keyring,
oldest first (``Settings.field_keys`` or one key per line of the key file). The newest
encrypts and indexes; every key decrypts the values its key_id names. A lookup therefore
asks for every index the searched value may be stored under (``blind_indexes``: one per
key of the keyring, ``WHERE idx IN (...)``), so rows the rotation has re-indexed and rows
it has not yet reached are found alike, and a key can be retired, the first one too, once
no ciphertext and no index names it.

Indexes made before they named their key (64 hex digits, no key id) were all keyed from the
keyring's FIRST master key (that key was never retired then); they are read as that key's,
and the next rotation rewrites them in the new form.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yilian.config import FIELD_KEY_BYTES, Settings

__all__ = [
    "FieldCipher",
    "FieldDecryptionError",
    "FieldKeys",
    "cipher_for_keyring",
    "cipher_from_settings",
]

FORMAT_VERSION = "v1"
NONCE_BYTES = 12  # 96 bits, the size GCM is specified for (NIST SP 800-38D)
TAG_BYTES = 16
# HKDF "info" strings: one master key, two independent keys for two purposes.
_ENCRYPTION_INFO = b"yilian field encryption v1"
_INDEX_INFO = b"yilian field blind index v1"


class FieldDecryptionError(Exception):
    """A stored value this server cannot decrypt: another key, damaged, or from another field.

    The message names the field and key ids, never the value or a key.
    """


@dataclass(frozen=True, repr=False)
class FieldKeys:
    """The encryption key and the blind-index key derived from one master key."""

    encryption_key: bytes
    index_key: bytes
    key_id: str  # first 8 hex digits of SHA-256 of encryption_key

    @classmethod
    def derive(cls, master_key: bytes) -> FieldKeys:
        """Both keys from a 32-byte master key, with HKDF-SHA256 under different labels."""
        if len(master_key) != FIELD_KEY_BYTES:
            raise ValueError(f"The field master key must be {FIELD_KEY_BYTES} bytes")
        encryption_key = _hkdf(master_key, _ENCRYPTION_INFO)
        return cls(
            encryption_key=encryption_key,
            index_key=_hkdf(master_key, _INDEX_INFO),
            key_id=hashlib.sha256(encryption_key).hexdigest()[:8],
        )

    def __repr__(self) -> str:
        return f"FieldKeys(key_id={self.key_id!r})"


def _hkdf(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


class FieldCipher:
    """Encrypts, decrypts and blind-indexes field values under the current keys.

    ``previous`` keys only decrypt, and lookups also ask for the indexes they made: values
    they sealed stay readable and findable while a key rotation moves them to the current
    key. ``legacy_index`` is the key whose indexes predate the key-id prefix (a keyring's
    first; by default the current key).
    """

    def __init__(
        self, keys: FieldKeys, *, previous: Iterable[FieldKeys] = (),
        legacy_index: FieldKeys | None = None,
    ) -> None:
        self.keys = keys
        previous = list(previous)
        self._aead = {old.key_id: AESGCM(old.encryption_key) for old in previous}
        self._aead[keys.key_id] = AESGCM(keys.encryption_key)
        # The current key first: most stored indexes are under it.
        self._index_keys = {keys.key_id: keys.index_key,
                            **{old.key_id: old.index_key for old in previous}}
        self._legacy_index = legacy_index if legacy_index is not None else keys

    @classmethod
    def from_master_key(cls, master_key: bytes) -> FieldCipher:
        """A cipher on the keys derived from one 32-byte master key."""
        return cls(FieldKeys.derive(master_key))

    @classmethod
    def from_keyring(
        cls, master_keys: Iterable[bytes], staged: Iterable[bytes] = ()
    ) -> FieldCipher:
        """A cipher on a keyring, oldest first: the newest encrypts and indexes, all decrypt
        and are looked up by, the first made the indexes of the older unprefixed form (see
        the module's note on rotation). ``staged`` keys only decrypt and are looked up by (a
        key being rolled out to every server before it encrypts)."""
        derived = [FieldKeys.derive(key) for key in master_keys]
        if not derived:
            raise ValueError("A keyring needs at least one master key")
        extra = [FieldKeys.derive(key) for key in staged]
        return cls(derived[-1], previous=[*derived[:-1], *extra], legacy_index=derived[0])

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of every key this cipher decrypts with."""
        return tuple(self._aead)

    def token_key_id(self, token: str) -> str:
        """The key id a stored token names ("" when it is not a token of this format)."""
        version, _, rest = token.partition(".")
        return rest.partition(".")[0] if version == FORMAT_VERSION else ""

    @property
    def key_id(self) -> str:
        """The id of the key new values are encrypted with."""
        return self.keys.key_id

    def encrypt(self, field: str, value: str) -> str:
        """The value encrypted for this field, as text: ``v1.<key_id>.<base64url>``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead[self.key_id].encrypt(
            nonce, value.encode("utf-8"), _associated_data(field)
        )
        payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{FORMAT_VERSION}.{self.key_id}.{payload}"

    def decrypt(self, field: str, token: str) -> str:
        """The value back from a token made by ``encrypt`` for the same field."""
        associated_data = _associated_data(field)
        version, _, rest = token.partition(".")
        key_id, _, payload = rest.partition(".")
        if version != FORMAT_VERSION or not key_id or not payload:
            raise FieldDecryptionError(
                f"{field}: not an encrypted field value of format {FORMAT_VERSION}"
            )
        aead = self._aead.get(key_id)
        if aead is None:
            raise FieldDecryptionError(
                f"{field}: encrypted with key {key_id}, but this server has key "
                f"{', '.join(self._aead)}; check YILIAN_FIELD_KEY(S) or the field key file"
            )
        try:
            sealed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            raise FieldDecryptionError(f"{field}: the encrypted value is damaged") from None
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise FieldDecryptionError(f"{field}: the encrypted value is damaged")
        try:
            plaintext = aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise FieldDecryptionError(
                f"{field}: the encrypted value fails authentication under key {key_id}: "
                "it was altered, or copied from another field"
            ) from None
        return plaintext.decode("utf-8")

    def blind_index(self, field: str, value: str) -> str:
        """A keyed hash for finding the value in this field by exact match, under the
        current key: ``<key_id>.<base64url(hmac)>``.

        The value is NFKC-normalised and trimmed first; anything more (upper-case X, the
        15-to-18-digit upgrade) is the caller's: pass ``resident_id.parse(...).number``.
        """
        return _index_text(self.key_id, _digest(self._index_keys[self.key_id], field, value))

    def blind_indexes(self, field: str, value: str) -> tuple[str, ...]:
        """Every index the value may be stored under in this field, for a lookup: one per
        key this cipher knows (the current one first), and the unprefixed form of the
        keyring's first key (see the module's note on rotation)."""
        found = [_index_text(key_id, _digest(index_key, field, value))
                 for key_id, index_key in self._index_keys.items()]
        found.append(_digest(self._legacy_index.index_key, field, value).hex())
        return tuple(found)

    def index_key_id(self, index: str) -> str:
        """The id of the key a stored index was made with ("" when it is not an index)."""
        key_id, dot, rest = index.partition(".")
        if dot:
            return key_id if len(key_id) == 8 and rest else ""
        return self._legacy_index.key_id if len(index) == 64 else ""

    @property
    def legacy_index_key_id(self) -> str:
        """The id of the key that made the indexes of the unprefixed form (64 hex digits)."""
        return self._legacy_index.key_id


def _digest(index_key: bytes, field: str, value: str) -> bytes:
    normalised = unicodedata.normalize("NFKC", value).strip()
    message = _associated_data(field) + b"\x00" + normalised.encode("utf-8")
    return hmac.new(index_key, message, hashlib.sha256).digest()


def _index_text(key_id: str, digest: bytes) -> str:
    return f"{key_id}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')}"


def _associated_data(field: str) -> bytes:
    """The field name as bytes; it may not contain NUL, the blind index's separator."""
    if not field or "\x00" in field:
        raise ValueError("A field name must be non-empty and free of NUL characters")
    return field.encode("utf-8")


def cipher_from_settings(settings: Settings) -> FieldCipher:
    """The cipher on this process's field keyring (configured, or from the key file)."""
    return cipher_for_keyring(settings.resolved_field_keys(),
                              settings.resolved_staged_field_keys())


@functools.lru_cache(maxsize=8)
def cipher_for_keyring(
    master_keys: tuple[bytes, ...], staged: tuple[bytes, ...] = ()
) -> FieldCipher:
    """One cipher per keyring: HKDF and key setup run once, not per value."""
    return FieldCipher.from_keyring(master_keys, staged)
