"""API shapes for sign-in and users."""

from __future__ import annotations

from pydantic import Field

from yilian.auth.models import Role
from yilian.schemas import ReadModel, WriteModel


class TokenRead(ReadModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires")


class UserCreate(WriteModel):
    """A new user account."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    institution_code: str | None = None
    display_name: str = Field(default="", max_length=64)
    practitioner_code: str | None = Field(default=None, max_length=32)


class UserRead(ReadModel):
    """A user as others may see it (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    institution_id: int | None
    practitioner_id: int | None
    is_active: bool


class MeRead(UserRead):
    """The signed-in user, with the institutions they act for."""

    institution_ids: list[int]


class TotpEnrolmentRead(ReadModel):
    """A new authenticator secret, shown once: type it into the app or open the URI."""

    secret: str = Field(description="Base32 secret (RFC 6238, SHA-1, 6 digits, 30 s)")
    otpauth_uri: str = Field(description="otpauth:// URI, the content of the QR code")


class TotpConfirm(WriteModel):
    """The first code of a new authenticator, to turn two-factor sign-in on."""

    code: str = Field(min_length=6, max_length=16)


class RecoveryCodesRead(ReadModel):
    """One-time recovery codes, shown once: each signs in once without the authenticator."""

    recovery_codes: list[str]
