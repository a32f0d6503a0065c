"""Errors a user can act on, each with a Chinese and an English message.

Services raise these; the web layer turns them into HTTP answers (JSON for the API,
OperationOutcome for FHIR, a page for the browser). They never carry stack traces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class YilianError(Exception):
    """A failure with a stable code and a message in both languages."""

    code: str
    zh: str
    en: str
    status_code: int = 400
    details: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"

    def message(self, language: str) -> str:
        """The message in the reader's language."""
        return self.en if language == "en" else self.zh


class InvalidInput(YilianError):
    """The request or file is malformed or breaks a rule (HTTP 422)."""

    def __init__(self, code: str, zh: str, en: str, details: list[dict[str, Any]] | None = None):
        super().__init__(code, zh, en, 422, details or [])


class NotFound(YilianError):
    """The thing asked for does not exist, or the user may not know it does (HTTP 404)."""

    def __init__(self, what_zh: str, what_en: str, key: object):
        super().__init__(
            "not_found", f"未找到{what_zh}：{key}", f"{what_en} not found: {key}", 404
        )


class Conflict(YilianError):
    """The request clashes with what is stored: a duplicate code, an illegal transition (409)."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(code, zh, en, 409)


class NotAuthenticated(YilianError):
    """No valid credentials (HTTP 401)."""

    def __init__(self, zh: str = "请先登录", en: str = "Please sign in first"):
        super().__init__("not_authenticated", zh, en, 401)


class SecondFactorNeeded(YilianError):
    """The password was right, but the sign-in needs a second factor first (HTTP 401 when a
    code is missing or wrong, 403 when the account must first set up an authenticator)."""

    def __init__(self, code: str, zh: str, en: str, status_code: int = 401):
        super().__init__(code, zh, en, status_code)


class PermissionDenied(YilianError):
    """Signed in, but this role or institution may not do this (HTTP 403)."""

    def __init__(self, zh: str, en: str, action: str = ""):
        super().__init__("forbidden", zh, en, 403, [{"action": action}] if action else [])


class TooManyAttempts(YilianError):
    """Login throttled after repeated failures (HTTP 429)."""

    def __init__(self, minutes: int):
        super().__init__(
            "too_many_attempts",
            f"登录失败次数过多，请 {minutes} 分钟后再试",
            f"Too many failed sign-ins; try again in {minutes} minutes",
            429,
        )
