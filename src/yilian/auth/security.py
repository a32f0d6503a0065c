"""Password hashes (argon2 via pwdlib) and bearer tokens (JWT, HS256)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from yilian.db import utcnow
from yilian.errors import NotAuthenticated

_password_hash = PasswordHash((Argon2Hasher(),))
_JWT_ALGORITHM = "HS256"
_JWT_AUDIENCE = "yilian-api"


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether the password matches the stored hash."""
    return _password_hash.verify(password, password_hash)


# A hash to verify against when the username does not exist, so both cases take as long.
DUMMY_HASH = hash_password("yilian-timing-equaliser")


def issue_token(
    *, secret_key: str, user_id: int, role: str, token_version: int, minutes: int
) -> str:
    """A signed access token for the user, valid for ``minutes``."""
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "ver": token_version,
        "aud": _JWT_AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret_key, algorithm=_JWT_ALGORITHM)


def read_token(token: str, *, secret_key: str) -> tuple[int, int]:
    """The user id and token version in a valid token; NotAuthenticated otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[_JWT_ALGORITHM],
            audience=_JWT_AUDIENCE,
            options={"require": ["sub", "exp", "ver"]},
        )
        return int(claims["sub"]), int(claims["ver"])
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("登录已过期，请重新登录", "Your sign-in has expired") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise NotAuthenticated("凭证无效，请重新登录", "Invalid credentials") from exc
