"""Sign-in and user routes of the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from yilian.auth import service as users
from yilian.auth.models import NETWORK_ROLES, Role
from yilian.auth.permissions import Action, Principal, authorize
from yilian.auth.schemas import MeRead, TokenRead, UserCreate, UserRead
from yilian.auth.security import issue_token
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.errors import PermissionDenied, YilianError

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=TokenRead, summary="Sign in (OAuth2 password flow)")
def issue_access_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    settings: AppSettings,
) -> TokenRead:
    """Exchange a username and password for a bearer token."""
    try:
        user = users.authenticate(
            session,
            username=form.username,
            password=form.password,
            client_ip=request.client.host if request.client else "",
            max_failures=settings.login_max_failures,
            window_minutes=settings.login_window_minutes,
        )
    except YilianError:
        session.commit()  # the failed attempt counts toward throttling and stays audited
        raise
    token = issue_token(
        secret_key=settings.resolved_secret_key(),
        user_id=user.id,
        role=user.role.value,
        token_version=user.token_version,
        minutes=settings.access_token_minutes,
    )
    return TokenRead(access_token=token, expires_in=settings.access_token_minutes * 60)


@router.get("/auth/me", response_model=MeRead)
def read_me(principal: CurrentPrincipal, session: DbSession) -> MeRead:
    """The signed-in user."""
    user = users.get(session, user_id=principal.user_id)
    assert user is not None
    return MeRead.model_validate(
        {**UserRead.model_validate(user).model_dump(),
         "institution_ids": sorted(principal.institution_ids)}
    )


@router.post("/auth/revoke", status_code=204)
def revoke_all_tokens(principal: CurrentPrincipal, session: DbSession) -> None:
    """Invalidate every token and session of the signed-in user (sign out everywhere)."""
    user = users.get(session, user_id=principal.user_id)
    assert user is not None
    users.revoke_tokens(session, user=user)


def _check_may_create(principal: Principal, body: UserCreate, institution_id: int | None) -> None:
    if principal.role is Role.HOSPITAL_ADMIN and (
        body.role in NETWORK_ROLES or body.role is Role.HOSPITAL_ADMIN
    ):
        raise PermissionDenied(
            "医院管理员不能创建管理员或分析员账号",
            "A hospital administrator cannot create administrator or analyst accounts",
            action=Action.USER_MANAGE.value,
        )
    if institution_id is not None:
        authorize(principal, Action.USER_MANAGE, [institution_id])


@router.get("/users", response_model=list[UserRead])
def list_users(
    principal: Annotated[Principal, RequirePermission(Action.USER_MANAGE)], session: DbSession
) -> list[UserRead]:
    """Users the caller manages."""
    reach = None if principal.is_network_wide else principal.institution_ids
    return [UserRead.model_validate(u) for u in users.list_(session, institution_ids=reach)]


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(
    body: UserCreate,
    principal: Annotated[Principal, RequirePermission(Action.USER_MANAGE)],
    session: DbSession,
) -> UserRead:
    """Create a user account."""
    user = users.create(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        institution_code=body.institution_code,
        display_name=body.display_name,
        practitioner_code=body.practitioner_code,
    )
    _check_may_create(principal, body, user.institution_id)
    return UserRead.model_validate(user)
