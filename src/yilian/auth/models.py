"""Users and sign-in attempts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow
from yilian.registry.models import Institution, Practitioner


class Role(enum.StrEnum):
    """What a user is in the network; permissions follow from it (see permissions.py)."""

    PLATFORM_ADMIN = "platform_admin"  # 平台管理员
    COMMISSION_ANALYST = "commission_analyst"  # 卫健委分析员
    HOSPITAL_ADMIN = "hospital_admin"  # 医院管理员
    CLINICIAN = "clinician"  # 临床医生
    INSURANCE_CLERK = "insurance_clerk"  # 医保结算员
    PATIENT = "patient"  # 患者


# Roles that act for the whole network rather than for one institution.
NETWORK_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.COMMISSION_ANALYST})


class User(Base):
    """Someone who signs in to Yilian."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), index=True)
    # The registry's record of a clinician, so referrals and consultations name a practitioner.
    practitioner_id: Mapped[int | None] = mapped_column(
        ForeignKey("practitioner.id"), index=True
    )
    # A patient's own person in the patient index, so they see their bookings and bills.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped to revoke every token and session issued before (logout everywhere, disable).
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    institution: Mapped[Institution | None] = relationship(lazy="joined")
    practitioner: Mapped[Practitioner | None] = relationship()

    # Stamping the last sign-in is not a change to the account worth an audit record
    # (the sign-in itself is audited as auth.login).
    __audit_ignore__ = frozenset({"last_login_at"})


class LoginAttempt(Base):
    """One sign-in attempt, kept to throttle guessing by username and by address."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client_ip: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebSession(Base):
    """A browser sign-in. The cookie carries a random token; only its SHA-256 is stored,
    so signing out (or an administrator ending it) makes a copied cookie worthless."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Roles that must sign in with a second factor (TOTP); every other role may opt in.
TOTP_REQUIRED_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN, Role.INSURANCE_CLERK})


class UserTotp(Base):
    """A user's authenticator (TOTP, RFC 6238). The shared secret is stored encrypted with
    the field cipher; the row is active once ``confirmed_at`` is set by a first valid code.
    ``last_step`` is the 30-second step of the last code accepted: no code of that step or
    an earlier one is accepted again (replay protection)."""

    __tablename__ = "user_totp"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    secret_cipher: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)

    # A sign-in moving the replay mark on is not a change to audit (the sign-in is audited).
    __audit_ignore__ = frozenset({"last_step"})


class RecoveryCode(Base):
    """A one-time code to sign in without the authenticator; only its SHA-256 is stored."""

    __tablename__ = "totp_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
