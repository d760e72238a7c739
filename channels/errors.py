"""Identity refusals (wrong PIN, lockout, expired code …) as problem+json of the channel APIs, and the error
answers their OpenAPI documents."""

from __future__ import annotations

from typing import Any

from hub.errors import TYPE_BASE, HubError
from hub.http.problem import PROBLEM_JSON, Problem
from hub.identity.errors import IdentityError


class ChannelRefused(HubError):
    """An ``IdentityError`` with its status, Chinese title and detail, and its stable type as ``code``."""

    type = TYPE_BASE + "identity"

    def __init__(self, exc: IdentityError) -> None:
        super().__init__(exc.detail, code=exc.type)
        # Per instance: the identity error decides the status (400, 401, 403, 429, 503) and title.
        setattr(self, "status", exc.status)  # noqa: B010
        setattr(self, "title", exc.title)  # noqa: B010


class DeviceRefused(HubError):
    """A caller that is not a registered device of this channel."""

    type = TYPE_BASE + "device-refused"
    title = "无权访问"
    status = 403
    default_detail = "仅限已登记的终端调用"


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_JSON: {}}}


# The error answers every channel operation documents in OpenAPI (RFC 9457 problem+json).
CHANNEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("请求未通过核验（如密码或验证码错误、证件号码不符）"),
    401: _problem("未认证：缺少或无效的访问令牌，或会话已结束"),
    403: _problem("调用方不是本渠道已登记的终端或岗位"),
    404: _problem("记录不存在或无权查看（两者答复相同）"),
    422: _problem("参数不正确"),
    429: _problem("请求过于频繁或已被锁定（见 Retry-After）"),
    503: _problem("服务暂不可用（见 Retry-After）"),
}

# Input shapes of the channel bodies: numbers read from cards and documents are letters and digits; tickets
# are URL-safe tokens; free text carries no control characters (a NUL byte cannot reach PostgreSQL).
ALNUM = r"^[0-9A-Za-z]+$"
TICKET = r"^[0-9A-Za-z_-]+$"
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
