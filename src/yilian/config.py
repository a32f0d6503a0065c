"""Settings read from the environment (prefix ``YILIAN_``) and their defaults."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["zh", "en"]

FIELD_KEY_BYTES = 32
# Six months of logs (China's Cybersecurity Law, art. 21; 等保 2.0 level 3).
MIN_AUDIT_RETENTION_DAYS = 180


def _sessions_per_core() -> int:
    return min(20, max(2, os.cpu_count() or 2))


class Settings(BaseSettings):
    """Everything an operator may change without touching code."""

    model_config = SettingsConfigDict(env_prefix="YILIAN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./yilian.db",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://… in production.",
    )
    secret_key: str = Field(
        default="",
        description="Signs session cookies and JWTs; empty: generated once, kept in secret_file.",
    )
    secret_file: Path = Path("./yilian.secret")
    default_language: Language = "zh"
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    secure_cookies: bool = False
    # Two-factor sign-in (TOTP): administrators and insurance clerks must use it; others may.
    totp_required: bool = Field(
        default=True,
        description="Require a second factor of platform and hospital administrators and "
        "insurance clerks. Turn off only for automated tests on throwaway databases.",
    )
    totp_issuer: str = Field(default="Yilian 医联", min_length=1, max_length=64,
                             description="The name authenticator apps show for the account.")
    # Audit records are never deleted by the application; this is the period the operator
    # commits to keep them (and any archive must cover) — China's Cybersecurity Law, art. 21:
    # network logs kept no less than six months.
    audit_retention_days: int = 180
    log_json: bool = True
    log_level: str = "INFO"
    fhir_base_url: str = ""
    page_size_max: int = 200
    field_key: SecretStr | None = Field(
        default=None,
        description="Master key for encrypted patient fields: base64 of 32 random bytes; "
        "unset: generated once, kept in field_key_file. Losing it loses those fields.",
    )
    field_keys: SecretStr | None = Field(
        default=None,
        description="A keyring instead of field_key: base64 master keys separated by commas, "
        "oldest first; the last encrypts and indexes, all decrypt and are searched by.",
    )
    field_key_file: Path = Path("./yilian.fieldkey")
    # Patient index: a pair scoring at or above empi_link_threshold links at once; between
    # the two thresholds it waits in the review queue; below, the record is a new person.
    empi_link_threshold: float = Field(default=0.95, gt=0, lt=1)
    empi_review_threshold: float = Field(default=0.30, gt=0, lt=1)
    empi_model_path: Path | None = Field(
        default=None, description="A retrained linkage model (JSON); unset: the shipped one."
    )
    empi_max_candidates: int = Field(default=200, ge=1)
    # Requests with a database session open at once, per server process; the connection
    # pool holds as many plus a few for refusal audits and the background worker. Requests
    # beyond it wait their turn without holding a thread or a connection. The default is
    # one per CPU core (at least 2, at most 20): more only makes the requests inside fight
    # for the interpreter and the database. On 2 cores with 2 workers, settlements ran at
    # 232/s with 2 per process and 160/s with 20 (benchmarks/settlement.py). A database far
    # away (long round trips) is the case for raising it.
    db_sessions_max: int = Field(default_factory=_sessions_per_core, ge=1, le=500)
    # Notifications (yilian.notify): the outbox worker that POSTs webhooks and sends email.
    # notify_worker_in_server starts it as a background thread in each server process.
    notify_worker_in_server: bool = False
    notify_batch_size: int = Field(default=50, ge=1, le=1000)
    # Messages of a batch sent at once (threads): a slow receiver does not hold up the rest.
    notify_concurrency: int = Field(default=4, ge=1, le=64)
    notify_poll_seconds: float = Field(default=2.0, gt=0)
    notify_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed message is a worker's; must "
        "outlast notify_timeout_seconds, after which a crashed worker's claims are retaken."
    )
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_backoff_base_seconds: float = Field(default=30.0, gt=0)
    notify_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    notify_site_url: str = Field(default="", description="Base URL for links in emails.")
    smtp_host: str = Field(default="", description="SMTP server; empty: no email is sent.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_from: str = "yilian@localhost"
    # Settlement: folders of policies (*.yaml) and catalogues (*.csv); unset: the shipped ones.
    settlement_policy_dir: Path | None = None
    settlement_catalogue_dir: Path | None = None
    # Referrals: response deadlines by urgency, how long an accepted referral shares the
    # patient's records with the receiving institution (at most; a referral that ends without
    # care ends it at once, a completed one keeps it for the follow-up window), and the
    # document upload limit.
    referral_deadline_emergency_minutes: int = Field(default=15, ge=1)
    referral_deadline_urgent_minutes: int = Field(default=4 * 60, ge=1)
    referral_deadline_routine_minutes: int = Field(default=48 * 60, ge=1)
    referral_share_days: int = Field(default=180, ge=1)
    referral_follow_up_share_days: int = Field(default=30, ge=1)
    referral_document_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Consultations: answer deadlines by urgency (the coordinator accepts or declines), the
    # video room link (``{token}`` is a random room token, never a patient or record id),
    # a session's default length, how long an open consultation shares the patients'
    # records at most (closing, declining or cancelling ends it at once), and uploads.
    consultation_deadline_emergency_minutes: int = Field(default=30, ge=1)
    consultation_deadline_urgent_minutes: int = Field(default=4 * 60, ge=1)
    consultation_deadline_routine_minutes: int = Field(default=48 * 60, ge=1)
    consultation_room_url_template: str = Field(
        default="https://meet.yilian.invalid/room/{token}",
        description="The hospital video system's room URL; must contain {token}.",
        pattern=r".*\{token\}.*",
    )
    consultation_session_minutes: int = Field(default=60, ge=10, le=8 * 60)
    consultation_share_days: int = Field(default=30, ge=1)
    consultation_document_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Scheduling: slots are generated this many days ahead; a patient may hold this many
    # appointments with one department per day and cancel until this many hours before;
    # self check-in opens and closes this many minutes around the slot's start.
    scheduling_timezone: str = "Asia/Shanghai"
    scheduling_horizon_days: int = Field(default=28, ge=1, le=366)
    scheduling_max_per_department_day: int = Field(default=1, ge=1)
    scheduling_cancel_cutoff_hours: int = Field(default=2, ge=0)
    scheduling_checkin_open_minutes: int = Field(default=60, ge=0)
    scheduling_checkin_close_minutes: int = Field(default=15, ge=0)
    # Demo: the encounter history's size against the seeds' own counts (1.0: 629,464 visits
    # in the children's hospital's best year; tests load less; 0 loads no history).
    demo_history_scale: float = Field(default=1.0, ge=0, le=1)
    # Demo: how many source records the patient index is loaded with (through the real
    # linkage, one by one: about a minute for the default; tests load fewer).
    demo_patient_records: int = Field(default=3000, ge=0, le=100_000)
    _secret_key: str | None = PrivateAttr(default=None)
    # The key file's keyring and the file's identity when read (inode, size, mtime): a
    # `yilian keys rotate` replaces the file, and running servers notice on their next use.
    _field_keyring: tuple[bytes, ...] = PrivateAttr(default=())
    _field_keyring_stamp: tuple[int, int, int] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _review_below_link(self) -> Settings:
        if self.empi_review_threshold >= self.empi_link_threshold:
            raise ValueError(
                "YILIAN_EMPI_REVIEW_THRESHOLD must be below YILIAN_EMPI_LINK_THRESHOLD"
            )
        return self

    @field_validator("audit_retention_days")
    @classmethod
    def _retention_at_least_six_months(cls, value: int) -> int:
        if value < MIN_AUDIT_RETENTION_DAYS:
            raise ValueError(
                f"YILIAN_AUDIT_RETENTION_DAYS must be at least {MIN_AUDIT_RETENTION_DAYS} "
                f"(got {value}): China's Cybersecurity Law asks for six months of logs / "
                f"审计记录至少保存 {MIN_AUDIT_RETENTION_DAYS} 天（《网络安全法》第二十一条）"
            )
        return value

    @model_validator(mode="after")
    def _notify_lease_outlasts_timeout(self) -> Settings:
        if self.notify_lease_seconds <= self.notify_timeout_seconds:
            raise ValueError(
                "YILIAN_NOTIFY_LEASE_SECONDS must exceed YILIAN_NOTIFY_TIMEOUT_SECONDS"
            )
        return self

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in ``secret_file`` (read once)."""
        if self.secret_key:
            return self.secret_key
        if self._secret_key is None:
            path = self.secret_file
            if path.exists():
                self._secret_key = path.read_text(encoding="utf-8").strip()
            else:
                self._secret_key = secrets.token_urlsafe(48)
                path.write_text(self._secret_key, encoding="utf-8")
                path.chmod(0o600)
        return self._secret_key

    def resolved_field_key(self) -> bytes:
        """The master key new field values are encrypted with (the keyring's newest)."""
        return self.resolved_field_keys()[-1]

    @property
    def field_keys_from_environment(self) -> bool:
        """True when the keyring is configured (field_key / field_keys), not the key file."""
        return bool(
            (self.field_keys is not None and self.field_keys.get_secret_value())
            or (self.field_key is not None and self.field_key.get_secret_value())
        )

    def _field_keys_parts(self) -> list[str]:
        text = self.field_keys.get_secret_value() if self.field_keys is not None else ""
        return [part.strip() for part in text.split(",") if part.strip()]

    def resolved_staged_field_keys(self) -> tuple[bytes, ...]:
        """Keys of YILIAN_FIELD_KEYS marked ``+``: they decrypt, but do not encrypt yet.

        Rotating keys given in the environment without downtime takes two rolling
        restarts: first every server gets ``old,+new`` (all can read the new key before
        any writes with it), then ``old,new``; then ``yilian keys rotate --no-new-key``.
        """
        return tuple(_decode_field_key(part[1:].strip(), "YILIAN_FIELD_KEYS")
                     for part in self._field_keys_parts() if _is_staged(part))

    def resolved_field_keys(self) -> tuple[bytes, ...]:
        """The field master keys, oldest first: configured, or kept in field_key_file.

        ``field_keys`` (a comma-separated keyring) wins over ``field_key`` (one key). Without
        either, the key file holds one base64 key per line, oldest first; it is generated
        with one key on first use. Like ``resolved_secret_key``, but a lost field key loses
        data, not sessions: so the file is created whole and owner-only in one step, two
        processes starting together end up with the same key, and a damaged file is an
        error, never silently replaced. The file is re-read when it changes (key rotation).
        """
        if self.field_keys is not None and self.field_keys.get_secret_value():
            active = [p for p in self._field_keys_parts() if not _is_staged(p)]
            if not active:
                raise ValueError("YILIAN_FIELD_KEYS holds no key that is not staged (+)")
            return tuple(_decode_field_key(p, "YILIAN_FIELD_KEYS") for p in active)
        if self.field_key is not None and self.field_key.get_secret_value():
            return (_decode_field_key(self.field_key.get_secret_value(), "YILIAN_FIELD_KEY"),)
        path = self.field_key_file
        try:
            status = path.stat()
        except FileNotFoundError:
            fresh = base64.b64encode(secrets.token_bytes(FIELD_KEY_BYTES)).decode("ascii")
            _create_key_file(path, fresh + "\n")
            status = path.stat()
        stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
        if stamp != self._field_keyring_stamp:
            self._field_keyring = parse_keyring(path.read_text(encoding="utf-8"), str(path))
            self._field_keyring_stamp = stamp
        return self._field_keyring


def parse_keyring(text: str, source: str) -> tuple[bytes, ...]:
    """The master keys of a key file: one base64 key per line, oldest first (# comments)."""
    lines = [line.strip() for line in text.splitlines()]
    keys = tuple(_decode_field_key(line, source) for line in lines if line and line[0] != "#")
    if not keys:
        raise ValueError(f"The field key file {source} holds no key")
    return keys


def write_keyring(path: Path, keys: tuple[bytes, ...]) -> None:
    """Replace the key file with this keyring at once (owner-only; readers never see half)."""
    content = "".join(base64.b64encode(key).decode("ascii") + "\n" for key in keys)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _is_staged(part: str) -> bool:
    """A keyring entry marked ``+`` (staged). Standard base64 may itself begin with ``+``:
    a key is 44 characters, so ``+`` and a whole key is staged, a lone key is not."""
    if not part.startswith("+"):
        return False
    try:
        _decode_field_key(part[1:].strip(), "YILIAN_FIELD_KEYS")
    except ValueError:
        return False
    return True


def _decode_field_key(text: str, source: str) -> bytes:
    """The 32 key bytes from their base64 text; the error names the source, never the key."""
    try:
        key = base64.b64decode(text.translate(str.maketrans("-_", "+/")), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != FIELD_KEY_BYTES:
        raise ValueError(f"The field key in {source} must be base64 of {FIELD_KEY_BYTES} bytes")
    return key


def _create_key_file(path: Path, content: str) -> str:
    """Write a new key file readable by its owner only; if one appeared meanwhile, keep it.

    The content is written to a private temporary file (mode 0600) and hard-linked into
    place, so no one ever reads a half-written file and a second writer never replaces
    the key of the first.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8")
        return content
    finally:
        os.unlink(temporary)


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()
