"""Users: creation, sign-in with throttling, and the principal a request acts as."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import CTE, Select, bindparam, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.auth.models import NETWORK_ROLES, LoginAttempt, Role, User, WebSession
from yilian.auth.permissions import Principal
from yilian.auth.security import DUMMY_HASH, hash_password, verify_password
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotAuthenticated, TooManyAttempts
from yilian.patients.models import Person
from yilian.registry.models import Institution, Practitioner

MIN_PASSWORD_LENGTH = 8


def get(session: Session, *, user_id: int) -> User | None:
    """The user with this id, if any."""
    return session.get(User, user_id)


def get_by_username(session: Session, *, username: str) -> User | None:
    """The user with this username, if any."""
    return session.scalars(select(User).where(User.username == username)).first()


def list_(session: Session, *, institution_ids: frozenset[int] | None = None) -> Sequence[User]:
    """Users, optionally only those of some institutions."""
    statement = select(User).order_by(User.username)
    if institution_ids is not None:
        statement = statement.where(User.institution_id.in_(institution_ids))
    return session.scalars(statement).all()


def check_password_rules(password: str) -> None:
    """Refuse passwords too short or made of one kind of character."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "weak_password",
            f"密码至少 {MIN_PASSWORD_LENGTH} 位",
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters",
        )
    if password.isdigit() or password.isalpha():
        raise InvalidInput(
            "weak_password", "密码须同时包含字母和数字或符号",
            "The password must mix letters with digits or symbols",
        )


def create(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    institution_code: str | None = None,
    display_name: str = "",
    practitioner_code: str | None = None,
    person_id: int | None = None,
) -> User:
    """A new user; institution roles need an institution, network roles must have none.

    A clinician may be linked to their practitioner record in the registry, a patient's
    account to their person in the patient index.
    """
    username = username.strip()
    if not username or len(username) > 64:
        raise InvalidInput("bad_username", "用户名不能为空且不超过 64 个字符",
                           "The username must be 1 to 64 characters")
    check_password_rules(password)
    if get_by_username(session, username=username) is not None:
        raise Conflict("username_taken", f"用户名已存在：{username}",
                       f"Username already taken: {username}")
    institution: Institution | None = None
    if role in NETWORK_ROLES:
        if institution_code:
            raise InvalidInput(
                "institution_not_allowed",
                "平台管理员和卫健委分析员不属于任何机构",
                "Platform administrators and commission analysts belong to no institution",
            )
    else:
        if not institution_code:
            raise InvalidInput("institution_required", "该角色必须指定所属机构",
                               "This role needs an institution")
        institution = session.scalars(
            select(Institution).where(Institution.code == institution_code)
        ).first()
        if institution is None:
            raise InvalidInput("unknown_institution", f"机构编码不存在：{institution_code}",
                               f"No institution with code {institution_code}")
    practitioner: Practitioner | None = None
    if practitioner_code:
        if role in NETWORK_ROLES:
            raise InvalidInput(
                "practitioner_not_allowed",
                "平台管理员和卫健委分析员不能关联医务人员",
                "Platform administrators and analysts cannot be linked to a practitioner",
            )
        practitioner = session.scalars(
            select(Practitioner).where(Practitioner.code == practitioner_code)
        ).first()
        if practitioner is None:
            raise InvalidInput("unknown_practitioner", f"医务人员编码不存在：{practitioner_code}",
                               f"No practitioner with code {practitioner_code}")
    if person_id is not None:
        check_patient_link(session, role=role, person_id=person_id)
    user = User(
        username=username,
        display_name=display_name or (practitioner.name if practitioner else username),
        password_hash=hash_password(password),
        role=role,
        institution_id=institution.id if institution else None,
        practitioner_id=practitioner.id if practitioner else None,
        person_id=person_id,
    )
    session.add(user)
    session.flush()
    return user


def active_users_of_practitioners(
    session: Session, *, practitioner_ids: Iterable[int]
) -> list[int]:
    """Ids of the active accounts linked to these practitioners (for notifying them)."""
    wanted = set(practitioner_ids)
    if not wanted:
        return []
    return list(session.scalars(
        select(User.id).where(User.practitioner_id.in_(wanted), User.is_active.is_(True))
    ).all())


def active_accounts_of_person(session: Session, *, person_id: int) -> list[int]:
    """Ids of the active patient accounts of a person in the patient index."""
    return list(session.scalars(
        select(User.id).where(User.person_id == person_id, User.is_active.is_(True))
    ).all())


def check_patient_link(session: Session, *, role: Role, person_id: int) -> None:
    """Only a patient's account names a person, and the person must be in the index."""
    if role is not Role.PATIENT:
        raise InvalidInput("person_not_allowed", "只有患者账号可以关联患者身份",
                           "Only a patient's account can be linked to a person")
    if session.get(Person, person_id) is None:
        raise InvalidInput("unknown_person", f"患者索引中没有该患者：{person_id}",
                           f"No person {person_id} in the patient index")


def link_patient(session: Session, *, user: User, person_id: int) -> None:
    """Link a patient's account to their person in the patient index."""
    check_patient_link(session, role=user.role, person_id=person_id)
    user.person_id = person_id
    session.flush()


def set_password(session: Session, *, user: User, password: str) -> None:
    """Replace the user's password and revoke every token issued before."""
    check_password_rules(password)
    user.password_hash = hash_password(password)
    user.token_version += 1
    session.flush()


def revoke_tokens(session: Session, *, user: User) -> None:
    """Invalidate every token and session the user holds (sign out everywhere)."""
    user.token_version += 1
    session.flush()


def act_as(session: Session, user: User) -> None:
    """Audit what follows in this unit of work as done by ``user`` (sign-in, sign-out)."""
    audit.bind(
        session,
        audit.context_of(session).for_user(
            user_id=user.id, username=user.username, role=user.role.value,
            institution_id=user.institution_id,
        ),
    )


def _recent_failures(
    session: Session, *, column: InstrumentedAttribute[str], value: str, minutes: int
) -> int:
    since = utcnow() - timedelta(minutes=minutes)
    last_success = (
        select(func.max(LoginAttempt.attempted_at))
        .where(column == value, LoginAttempt.succeeded.is_(True))
        .scalar_subquery()
    )
    statement = select(func.count(LoginAttempt.id)).where(
        column == value,
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.attempted_at >= since,
        or_(last_success.is_(None), LoginAttempt.attempted_at > last_success),
    )
    return session.scalar(statement) or 0


def check_throttle(
    session: Session,
    *,
    username: str,
    client_ip: str,
    max_failures: int,
    window_minutes: int,
    action: str = "auth.login",
) -> None:
    """TooManyAttempts (audited) after repeated failures, for this username or address.

    Failures are counted per username and, at five times the limit, per client address, so
    one address cannot try many usernames either. Wrong passwords and wrong second-factor
    codes count alike; a completed sign-in starts the count again.
    """
    by_user = _recent_failures(
        session, column=LoginAttempt.username, value=username, minutes=window_minutes
    )
    by_address = _recent_failures(
        session, column=LoginAttempt.client_ip, value=client_ip, minutes=window_minutes
    )
    if by_user >= max_failures or by_address >= max_failures * 5:
        audit.record(session, action=action, outcome=AuditOutcome.DENIED,
                     entity_type="app_user", detail={"username": username, "throttled": True})
        raise TooManyAttempts(window_minutes)


def check_password(
    session: Session,
    *,
    username: str,
    password: str,
    client_ip: str,
    max_failures: int,
    window_minutes: int,
) -> User:
    """The active user whose password this is, throttled after repeated failures.

    A failure is kept and audited; a success is not yet a sign-in (a second factor may
    follow): :func:`complete_sign_in` records it.
    """
    username = username.strip()
    check_throttle(session, username=username, client_ip=client_ip,
                   max_failures=max_failures, window_minutes=window_minutes)
    user = get_by_username(session, username=username)
    valid = verify_password(password, user.password_hash if user else DUMMY_HASH)
    if not (user and valid and user.is_active):
        session.add(LoginAttempt(username=username, client_ip=client_ip, succeeded=False))
        audit.record(
            session, action="auth.login", outcome=AuditOutcome.FAILED, entity_type="app_user",
            entity_id=str(user.id) if user else "", detail={"username": username},
        )
        session.flush()
        raise NotAuthenticated("用户名或密码错误", "Wrong username or password")
    return user


def complete_sign_in(
    session: Session, *, user: User, client_ip: str, second_factor: str | None = None
) -> None:
    """Record a finished sign-in (password and, if any, second factor): audited as
    ``auth.login`` by the user, and the failure count starts again."""
    session.add(LoginAttempt(username=user.username, client_ip=client_ip, succeeded=True))
    user.last_login_at = utcnow()
    act_as(session, user)
    audit.record(session, action="auth.login", entity_type="app_user", entity_id=str(user.id),
                 institution_id=user.institution_id,
                 detail={"second_factor": second_factor} if second_factor else None)
    session.flush()


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    client_ip: str,
    max_failures: int,
    window_minutes: int,
) -> User:
    """The user whose password this is, signed in at once (no second factor asked).

    For sign-in pages and the token endpoint, which ask for a second factor when the
    account has one, see :func:`check_password` and ``auth.totp``.
    """
    user = check_password(session, username=username, password=password, client_ip=client_ip,
                          max_failures=max_failures, window_minutes=window_minutes)
    complete_sign_in(session, user=user, client_ip=client_ip)
    return user


def _reach(start: Select[Any]) -> CTE:
    """The institutions ``start`` (a select of one id column) reaches: itself and, however
    deep the tree goes, the campuses it runs (UNION stops on anything seen twice)."""
    reach = start.cte("reach", recursive=True)
    return reach.union(select(Institution.id).join(reach, Institution.parent_id == reach.c.id))


def _signed_in_statement() -> Select[Any]:
    reach = _reach(select(User.institution_id.label("id"))
                   .where(User.id == bindparam("user_id"), User.institution_id.is_not(None)))
    return (
        select(User.username, User.role, User.institution_id, User.display_name,
               User.person_id, User.practitioner_id, reach.c.id)
        .outerjoin(reach, true())
        .where(User.id == bindparam("user_id"), User.is_active.is_(True),
               User.token_version == bindparam("token_version"))
    )


# Built once: the statement every authenticated request runs, only its parameters change.
_SIGNED_IN = _signed_in_statement()


def signed_in_principal(session: Session, *, user_id: int, token_version: int) -> Principal | None:
    """The principal of an active user whose credentials carry ``token_version``, else None.

    This runs on every authenticated request, so it is one round trip of plain columns: the
    user joined with the institutions they reach (their own and, recursively, its campuses).
    """
    rows = session.execute(_SIGNED_IN, {"user_id": user_id, "token_version": token_version}).all()
    if not rows:
        return None
    first = rows[0]
    return Principal(
        user_id=user_id,
        username=first.username,
        role=first.role,
        institution_id=first.institution_id,
        institution_ids=frozenset(row.id for row in rows if row.id is not None),
        display_name=first.display_name,
        person_id=first.person_id,
        practitioner_id=first.practitioner_id,
    )


def principal_for(session: Session, *, user: User) -> Principal:
    """The principal of a user: their institution plus the campuses it runs."""
    reach: frozenset[int] = frozenset()
    if user.institution_id is not None:
        tree = _reach(select(Institution.id).where(Institution.id == user.institution_id))
        reach = frozenset(session.scalars(select(tree.c.id)))
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        institution_id=user.institution_id,
        institution_ids=reach,
        display_name=user.display_name,
        person_id=user.person_id,
        practitioner_id=user.practitioner_id,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_web_session(
    session: Session, *, user: User, client_ip: str, user_agent: str
) -> str:
    """Open a browser session for the user; the returned token goes in the signed cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(token_hash=_token_hash(token), user_id=user.id, client_ip=client_ip[:64],
                   user_agent=user_agent[:256])
    )
    session.flush()
    return token


def web_session_user_id(session: Session, *, token: str) -> int | None:
    """The user id of an open browser session, or None when it was ended or never existed."""
    return session.scalar(
        select(WebSession.user_id).where(
            WebSession.token_hash == _token_hash(token), WebSession.ended_at.is_(None)
        )
    )


def end_web_session(session: Session, *, token: str) -> None:
    """Close a browser session (sign-out); its cookie no longer signs anyone in."""
    found = session.get(WebSession, _token_hash(token))
    user = get(session, user_id=found.user_id) if found is not None else None
    if found is not None and found.ended_at is None and user is not None:
        found.ended_at = utcnow()
        act_as(session, user)
        audit.record(session, action="auth.logout", entity_type="app_user",
                     entity_id=str(found.user_id))
        session.flush()
