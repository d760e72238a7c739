"""``POST /app/v1/me/password``: the logged-in person changes the login password in the app.

The same service as the web page (``hub.identity.password_change``): a wrong current password counts
toward the login lockout (during a lockout the reply is the same), the policy and the history of the
last passwords apply, every other login of the account ends (portal sessions, other app grants) while
this app's grant stays, and an SMS notice goes to the phone on record.
"""

# No ``from __future__ import annotations``: FastAPI must see the dependency annotations as objects.
from datetime import datetime
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.subject import Subject
from hub.errors import TYPE_BASE, HubError
from hub.identity import password_change
from hub.identity.errors import IdentityError, WeakPassword, WrongCurrentPassword
from mobile_api import deps
from mobile_api.errors import PERSONAL_RESPONSES, problem_doc


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=256, description="当前登录密码")
    new_password: str = Field(min_length=1, max_length=256, description="新登录密码")


class PasswordChanged(BaseModel):
    changed_at: datetime = Field(description="修改时间")
    signed_out_elsewhere: int = Field(description="因修改密码而退出的其他应用登录数（本应用的登录保持）")


class WrongPassword(HubError):
    """The current password is wrong, or the account is locked: one reply for both."""

    type: ClassVar[str] = TYPE_BASE + "wrong-password"
    title: ClassVar[str] = "当前密码不正确"
    status: ClassVar[int] = 400
    default_detail: ClassVar[str] = "当前密码不正确"


class PasswordRejected(HubError):
    """The new password breaks a rule; ``rules`` lists each broken rule in Chinese."""

    type: ClassVar[str] = TYPE_BASE + "weak-password"
    title: ClassVar[str] = "新密码不符合安全要求"
    status: ClassVar[int] = 422
    default_detail: ClassVar[str] = "新密码不符合安全要求"


class PasswordRefused(HubError):
    type: ClassVar[str] = TYPE_BASE + "password-change-refused"
    title: ClassVar[str] = "无法修改密码"
    status: ClassVar[int] = 403
    default_detail: ClassVar[str] = "无法修改密码"


RESPONSES: dict[int | str, dict[str, Any]] = {
    **PERSONAL_RESPONSES,
    400: problem_doc("当前密码不正确，或账号已锁定（WRONG_PASSWORD，同一答复）"),
    422: problem_doc(
        "新密码不符合安全要求（WEAK_PASSWORD，rules 列出每条未满足的规则）或参数不正确（INVALID_REQUEST）"
    ),
}


def router(authenticate: Any) -> APIRouter:
    r = APIRouter(prefix="/app/v1/me", tags=["掌上12333·地方"], responses=RESPONSES)

    app_person = deps.app_person(authenticate)

    @r.post("/password", summary="修改登录密码", response_model=PasswordChanged)
    async def change(
        request: Request, me: Annotated[Subject, Depends(app_person)], body: PasswordChange
    ) -> PasswordChanged:
        """Change the login password: the current one and the new one.

        400 ``WRONG_PASSWORD`` for a wrong current password (it counts toward the login lockout; while the
        account is locked the answer is the same); 422 ``WEAK_PASSWORD`` naming every rule the new password
        breaks (length, character classes, one of the last passwords, the same as the current one).
        Afterwards every other login of the account has ended; this app stays logged in."""
        rt = request.app.state.identity
        url = request.app.state.endpoints.hub_db_url
        ip = request.client.host if request.client else "unknown"

        def work() -> tuple[password_change.Changed, datetime]:
            now = rt.clock()
            with pg.connect(url) as conn:
                changed = password_change.change_password(
                    conn, rt.cfg, account_id=me.account_id, current=body.current_password, new=body.new_password,
                    now=now, source=f"ip:{ip}", keep_grant=me.grant_id, client_id=me.client_id,
                    channel=me.channel.value,
                )  # fmt: skip
            password_change.end_other_sessions(
                rt.redis, rt.sessions, changed, keep_session=None, now=now,
                marker_ttl_seconds=rt.cfg.settings.access_token_ttl_seconds + 60,
            )  # fmt: skip
            return changed, now

        try:
            changed, at = await run_in_threadpool(work)
        except WrongCurrentPassword:
            raise WrongPassword() from None
        except WeakPassword as exc:
            raise PasswordRejected(exc.detail, rules=exc.detail.split("；")) from None
        except IdentityError as exc:  # an administrator-issued password past its validity
            raise PasswordRefused(exc.detail) from None
        return PasswordChanged(changed_at=at, signed_out_elsewhere=len(changed.revoked_grants))

    return r
