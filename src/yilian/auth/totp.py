"""Two-factor sign-in with time-based one-time passwords (TOTP, RFC 6238).

Any authenticator app works (6 digits, 30 seconds, HMAC-SHA1: the defaults every app
shares). Platform and hospital administrators and insurance clerks must use one
(``Settings.totp_required``); every other role may turn it on.

- Enrolment: the server makes the secret, shows it once (QR code and text) and keeps it
  encrypted with the field cipher; it becomes active only when the user types a first
  valid code. Activation hands out ten one-time recovery codes, stored as SHA-256 hashes.
- Verification accepts the code of the current 30-second step or of the one before or
  after (clock drift), but never a step at or before the last one accepted for that user:
  a code, once used, cannot be used again (RFC 6238 §5.2). The check and the move of that
  mark are one conditional UPDATE, so two requests racing with one code cannot both win.
- Wrong codes count as failed sign-in attempts, so the password throttling of
  ``service.authenticate`` stops guessing of codes too. Every enrolment, success, failure
  and reset leaves an audit record (``auth.totp.*``); no record holds a code or secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.auth import service as users
from yilian.auth.models import TOTP_REQUIRED_ROLES, LoginAttempt, RecoveryCode, User, UserTotp
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotAuthenticated

SECRET_FIELD = "user_totp.secret"  # noqa: S105 - a field name, not a secret
STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now that still count, for a phone clock a little off (±30 s).
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_CODE = re.compile(r"\d{6}")


def _now() -> float:
    """Seconds since the epoch (tests set the clock here)."""
    return time.time()


@dataclass(frozen=True)
class Enrolment:
    """What the user sees once while enrolling: the secret as text, URI and QR code."""

    secret: str
    uri: str
    qr_svg: str  # inline SVG, no script or style: allowed by the page's CSP

    @property
    def secret_grouped(self) -> str:
        """The secret in groups of four, easier to type into an app by hand."""
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))


def required_for(settings: Settings, user: User) -> bool:
    """Whether this user's role must sign in with a second factor."""
    return settings.totp_required and user.role in TOTP_REQUIRED_ROLES


def active_authenticator(session: Session, *, user_id: int) -> UserTotp | None:
    """The user's confirmed authenticator, if they have one."""
    found = session.get(UserTotp, user_id)
    return found if found is not None and found.confirmed_at is not None else None


def is_enrolled(session: Session, *, user_id: int) -> bool:
    """Whether the user signs in with a second factor."""
    return active_authenticator(session, user_id=user_id) is not None


def begin_enrolment(session: Session, settings: Settings, *, user: User) -> Enrolment:
    """A fresh secret for the user, kept encrypted and inactive until confirmed.

    Starting again replaces a secret not yet confirmed; an active one must be reset first.
    """
    found = session.get(UserTotp, user.id)
    if found is not None and found.confirmed_at is not None:
        raise Conflict("totp_already_enrolled", "已启用两步验证；如需更换请先由管理员重置",
                       "Two-factor sign-in is already on; an administrator must reset it first")
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    sealed = cipher_from_settings(settings).encrypt(SECRET_FIELD, secret)
    if found is None:
        session.add(UserTotp(user_id=user.id, secret_cipher=sealed))
    else:
        found.secret_cipher = sealed
        found.created_at = utcnow()
    audit.record(session, action="auth.totp.enrol", entity_type="app_user",
                 entity_id=str(user.id), institution_id=user.institution_id,
                 detail={"step": "secret issued"})
    session.flush()
    return _enrolment(settings, user=user, secret=secret)


def _enrolment(settings: Settings, *, user: User, secret: str) -> Enrolment:
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=settings.totp_issuer
    )
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=2, dark="#000", light="#fff", omitsize=True, title="TOTP"
    )
    return Enrolment(secret=secret, uri=uri, qr_svg=svg)


def pending_enrolment(session: Session, settings: Settings, *, user: User) -> Enrolment | None:
    """The secret issued but not yet confirmed, to show again after a mistyped first code."""
    found = session.get(UserTotp, user.id)
    if found is None or found.confirmed_at is not None:
        return None
    secret = cipher_from_settings(settings).decrypt(SECRET_FIELD, found.secret_cipher)
    return _enrolment(settings, user=user, secret=secret)


def _throttle(session: Session, settings: Settings, *, user: User, client_ip: str) -> None:
    users.check_throttle(session, username=user.username, client_ip=client_ip,
                         max_failures=settings.login_max_failures,
                         window_minutes=settings.login_window_minutes, action="auth.totp")


def _refuse(session: Session, *, user: User, client_ip: str, action: str,
            detail: dict[str, object]) -> NotAuthenticated:
    session.add(LoginAttempt(username=user.username, client_ip=client_ip, succeeded=False))
    audit.record(session, action=action, outcome=AuditOutcome.FAILED, entity_type="app_user",
                 entity_id=str(user.id), institution_id=user.institution_id, detail=detail)
    session.flush()
    return NotAuthenticated("动态验证码错误或已使用过，请输入验证器上新的验证码",
                            "Wrong or already used code; enter a new code from your authenticator")


def _matching_step(secret: str, code: str) -> int | None:
    """The time step whose code this is, within the drift allowed, else None."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = int(_now()) // STEP_SECONDS
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _use_step(session: Session, *, user_id: int, step: int) -> bool:
    """Move the replay mark to ``step``; False when that step (or a later one) was used."""
    moved = session.execute(
        update(UserTotp)
        .where(UserTotp.user_id == user_id,
               or_(UserTotp.last_step.is_(None), UserTotp.last_step < step))
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0) == 1)


def _normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode("ascii", "ignore")).hexdigest()


def confirm_enrolment(
    session: Session, settings: Settings, *, user: User, code: str, client_ip: str
) -> list[str]:
    """Activate the pending secret with a first valid code; the recovery codes, once."""
    users.act_as(session, user)  # the password is checked: audit as the user
    _throttle(session, settings, user=user, client_ip=client_ip)
    found = session.get(UserTotp, user.id)
    if found is None or found.confirmed_at is not None:
        raise InvalidInput("no_pending_totp", "没有待确认的验证器，请重新开始绑定",
                           "No authenticator is waiting for confirmation; start again")
    secret = cipher_from_settings(settings).decrypt(SECRET_FIELD, found.secret_cipher)
    code = _normalise(code)
    step = _matching_step(secret, code) if _CODE.fullmatch(code) else None
    if step is None or not _use_step(session, user_id=user.id, step=step):
        raise _refuse(session, user=user, client_ip=client_ip, action="auth.totp.enrol",
                      detail={"step": "confirmation"})
    found.confirmed_at = utcnow()
    codes = _issue_recovery_codes(session, user=user)
    audit.record(session, action="auth.totp.enrol", entity_type="app_user",
                 entity_id=str(user.id), institution_id=user.institution_id,
                 detail={"step": "confirmed", "recovery_codes": len(codes)})
    session.flush()
    return codes


def _issue_recovery_codes(session: Session, *, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(code))
                    for code in codes)
    return codes


def new_recovery_codes(session: Session, *, user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones (the old ones stop working)."""
    if not is_enrolled(session, user_id=user.id):
        raise InvalidInput("totp_not_enrolled", "尚未启用两步验证",
                           "Two-factor sign-in is not on for this account")
    codes = _issue_recovery_codes(session, user=user)
    audit.record(session, action="auth.totp.recovery_codes", entity_type="app_user",
                 entity_id=str(user.id), institution_id=user.institution_id)
    session.flush()
    return codes


def remaining_recovery_codes(session: Session, *, user_id: int) -> int:
    """How many of the user's recovery codes are still unused."""
    return session.scalar(
        select(func.count(RecoveryCode.id))
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ) or 0


def verify(
    session: Session, settings: Settings, *, user: User, code: str, client_ip: str
) -> str:
    """Check the second factor of a sign-in: an authenticator code or a recovery code.

    Returns how it was given (``totp`` or ``recovery``); NotAuthenticated when wrong or
    already used, TooManyAttempts after repeated failures.
    """
    users.act_as(session, user)  # the password is checked: audit as the user
    _throttle(session, settings, user=user, client_ip=client_ip)
    found = active_authenticator(session, user_id=user.id)
    normalised = _normalise(code)
    if found is None:
        raise _refuse(session, user=user, client_ip=client_ip, action="auth.totp.verify",
                      detail={"reason": "not enrolled"})
    if _CODE.fullmatch(normalised):
        secret = cipher_from_settings(settings).decrypt(SECRET_FIELD, found.secret_cipher)
        step = _matching_step(secret, normalised)
        if step is None:
            raise _refuse(session, user=user, client_ip=client_ip, action="auth.totp.verify",
                          detail={"method": "totp", "reason": "wrong code"})
        if not _use_step(session, user_id=user.id, step=step):
            raise _refuse(session, user=user, client_ip=client_ip, action="auth.totp.verify",
                          detail={"method": "totp", "reason": "code already used"})
        method = "totp"
    else:
        used = session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.user_id == user.id,
                   RecoveryCode.code_hash == _recovery_hash(normalised),
                   RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(used, "rowcount", 0) != 1:
            raise _refuse(session, user=user, client_ip=client_ip, action="auth.totp.verify",
                          detail={"method": "recovery", "reason": "wrong or used code"})
        method = "recovery"
    detail: dict[str, object] = {"method": method}
    if method == "recovery":
        detail["recovery_codes_left"] = remaining_recovery_codes(session, user_id=user.id)
    audit.record(session, action="auth.totp.verify", entity_type="app_user",
                 entity_id=str(user.id), institution_id=user.institution_id, detail=detail)
    session.flush()
    return method


def reset(session: Session, *, user: User) -> None:
    """Remove the user's authenticator and recovery codes (an administrator's reset, for a
    lost phone) and sign them out everywhere; a required role enrols again at next sign-in."""
    found = session.get(UserTotp, user.id)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    if found is not None:
        session.delete(found)
    users.revoke_tokens(session, user=user)
    audit.record(session, action="auth.totp.reset", entity_type="app_user",
                 entity_id=str(user.id), institution_id=user.institution_id)
    session.flush()
