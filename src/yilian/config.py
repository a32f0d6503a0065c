"""Settings read from the environment (prefix ``YILIAN_``) and their defaults."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["zh", "en"]


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
    log_json: bool = True
    log_level: str = "INFO"
    fhir_base_url: str = ""
    page_size_max: int = 200
    _secret_key: str | None = PrivateAttr(default=None)

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


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()
