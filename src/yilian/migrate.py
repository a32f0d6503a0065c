"""Alembic, driven from Python: ``yilian db upgrade`` and ``yilian serve`` call these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# Migrations live at the top of the checkout (``migrations/``), beside ``src/``.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for this database."""
    if not (MIGRATIONS_DIR / "env.py").exists():
        raise RuntimeError(
            f"migrations not found at {MIGRATIONS_DIR}; install Yilian from its checkout "
            "with `pip install -e .`"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database schema back to ``revision``."""
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> None:
    """Print the revision the database is at."""
    command.current(alembic_config(database_url))
