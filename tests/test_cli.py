"""The ``yilian`` command line: one clear line and a non-zero exit on bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import make_institution
from yilian.auth.models import User
from yilian.cli import app


def _users(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(User.id))) or 0


def test_users_create_makes_a_clinician_who_can_sign_in(
    runner: CliRunner, session: Session
) -> None:
    make_institution(session, code="HUAILAI")
    session.commit()

    result = runner.invoke(
        app,
        ["users", "create", "--username", "li", "--password", "Secret123!",
         "--role", "clinician", "--institution", "HUAILAI"],
    )

    assert result.exit_code == 0, result.output
    user = session.scalars(select(User).where(User.username == "li")).one()
    assert user.role.value == "clinician"
    assert user.institution is not None and user.institution.code == "HUAILAI"


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--role", "clinician", "--institution", "NOPE"], "No institution with code NOPE"),
        (["--role", "clinician"], "This role needs an institution"),
        (["--role", "platform_admin", "--institution", "HUAILAI"], "belong to no institution"),
    ],
)
def test_users_create_refuses_bad_input_and_creates_nothing(
    runner: CliRunner, session: Session, arguments: list[str], complaint: str
) -> None:
    make_institution(session, code="HUAILAI")
    session.commit()

    result = runner.invoke(
        app, ["users", "create", "--username", "x", "--password", "Secret123!", *arguments]
    )

    assert result.exit_code == 1
    assert complaint in result.output
    assert _users(session) == 0


def test_unknown_role_is_refused_by_the_command_line(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["users", "create", "--username", "x", "--password", "Secret123!", "--role", "boss"]
    )
    assert result.exit_code != 0
    assert "boss" in result.output
