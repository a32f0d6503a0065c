"""Sign-in and user routes of the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from yilian.auth import service as users
from yilian.auth import totp
from yilian.auth.models import NETWORK_ROLES, Role, User
from yilian.auth.permissions import Action, Principal, authorize
from yilian.auth.schemas import (
    MeRead,
    RecoveryCodesRead,
    TokenRead,
    TotpConfirm,
    TotpEnrolmentRead,
    UserCreate,
    UserRead,
)
from yilian.auth.security import issue_token
from yilian.config import Settings
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.errors import NotFound, PermissionDenied, SecondFactorNeeded, YilianError

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=TokenRead, summary="Sign in (OAuth2 password flow)")
def issue_access_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    settings: AppSettings,
    totp_code: Annotated[
        str | None,
        Form(alias="totp", max_length=32,
             description="The 6-digit code of the authenticator app, or a recovery code; "
             "needed when the account has two-factor sign-in on."),
    ] = None,
) -> TokenRead:
    """Exchange a username, password and (with two-factor sign-in) a code for a token.

    An account with an authenticator needs the `totp` field: without it the answer is 401
    with code `totp_required`. An administrator or insurance clerk without an authenticator
    gets 403 `totp_enrolment_required`: they set one up by signing in to the web UI once.
    """
    client_ip = request.client.host if request.client else ""
    try:
        user = users.check_password(
            session,
            username=form.username,
            password=form.password,
            client_ip=client_ip,
            max_failures=settings.login_max_failures,
            window_minutes=settings.login_window_minutes,
        )
        second_factor = _second_factor(session, settings, user=user, code=totp_code,
                                       client_ip=client_ip)
        users.complete_sign_in(session, user=user, client_ip=client_ip,
                               second_factor=second_factor)
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


def _second_factor(
    session: Session, settings: Settings, *, user: User, code: str | None, client_ip: str
) -> str | None:
    """How the token request proved the second factor (None when the account has none)."""
    if not totp.is_enrolled(session, user_id=user.id):
        if totp.required_for(settings, user):
            raise SecondFactorNeeded(
                "totp_enrolment_required",
                "该账号须启用两步验证：请先在浏览器中登录一次并绑定验证器",
                "This account must use two-factor sign-in: sign in once in the browser and "
                "set up an authenticator first",
                403,
            )
        return None
    if not code:
        raise SecondFactorNeeded("totp_required", "请输入验证器上的 6 位动态验证码",
                                 "Enter the 6-digit code from your authenticator app")
    return totp.verify(session, settings, user=user, code=code, client_ip=client_ip)


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


@router.post("/auth/totp/enrolment", response_model=TotpEnrolmentRead, status_code=201)
def begin_totp_enrolment(
    principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> TotpEnrolmentRead:
    """Start two-factor sign-in for the signed-in user: a new secret, shown this once.

    It is not active until confirmed with a first code.
    """
    user = users.get(session, user_id=principal.user_id)
    assert user is not None
    enrolment = totp.begin_enrolment(session, settings, user=user)
    return TotpEnrolmentRead(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post("/auth/totp/enrolment/confirm", response_model=RecoveryCodesRead)
def confirm_totp_enrolment(
    request: Request, body: TotpConfirm, principal: CurrentPrincipal, session: DbSession,
    settings: AppSettings,
) -> RecoveryCodesRead:
    """Turn two-factor sign-in on with a first code; the one-time recovery codes, once."""
    user = users.get(session, user_id=principal.user_id)
    assert user is not None
    try:
        codes = totp.confirm_enrolment(
            session, settings, user=user, code=body.code,
            client_ip=request.client.host if request.client else "",
        )
    except YilianError:
        session.commit()  # a wrong code counts toward throttling and stays audited
        raise
    return RecoveryCodesRead(recovery_codes=codes)


@router.delete("/users/{user_id}/totp", status_code=204)
def reset_totp(
    user_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    principal: Annotated[Principal, RequirePermission(Action.USER_MANAGE)],
    session: DbSession,
) -> None:
    """Reset a user's two-factor sign-in (lost phone): their authenticator and recovery
    codes are removed and they are signed out everywhere; an administrator or clerk sets up
    a new authenticator at their next sign-in."""
    user = users.get(session, user_id=user_id)
    if user is None or (
        not principal.is_network_wide
        and (user.institution_id is None or user.institution_id not in principal.institution_ids)
    ):
        raise NotFound("用户", "User", user_id)
    if principal.role is Role.HOSPITAL_ADMIN and user.role in (
        NETWORK_ROLES | {Role.HOSPITAL_ADMIN}
    ):
        raise PermissionDenied("医院管理员不能重置管理员的两步验证",
                               "A hospital administrator cannot reset an administrator's "
                               "two-factor sign-in", action=Action.USER_MANAGE.value)
    totp.reset(session, user=user)
