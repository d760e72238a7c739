"""One error base for every front end: REST renders it as RFC 9457 problem+json, GraphQL as ``extensions``.

``title`` and ``detail`` are shown to users and written in Simplified Chinese; ``type`` is a stable URI
that programs switch on. A caller that may not see a record gets exactly the ``NotFound`` a missing
record gets (``Forbidden`` renders as one), so an error never tells whether someone else's record exists.

A subclass names its problem in its class line::

    class Conflict(HubError, slug="conflict", title="状态冲突", status=409, detail="记录已被修改，请刷新后重试"): ...

(``type`` becomes ``TYPE_BASE + slug``; a member left out is inherited.)
"""

from __future__ import annotations

from typing import Any, ClassVar

TYPE_BASE = "https://hub.example.gov.cn/problems/"


class HubError(Exception):
    """Base of every error a caller may see."""

    type: ClassVar[str] = TYPE_BASE + "error"
    title: ClassVar[str] = "请求失败"
    status: ClassVar[int] = 400
    default_detail: ClassVar[str] = "请求无法完成"

    def __init_subclass__(
        cls,
        *,
        slug: str | None = None,
        title: str | None = None,
        status: int | None = None,
        detail: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if slug is not None:
            cls.type = TYPE_BASE + slug
        if title is not None:
            cls.title = title
        if status is not None:
            cls.status = status
        if detail is not None:
            cls.default_detail = detail

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        self.detail = detail or self.default_detail
        self.extensions = extensions
        super().__init__(self.detail)

    def headers(self) -> dict[str, str]:
        return {}

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 members (without ``instance``); extensions follow the standard members."""
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail, **self.extensions}


class NotFound(HubError, slug="not-found", title="未找到", status=404, detail="请求的记录不存在或无权查看"):
    """A record that does not exist, or that the caller may not see."""


class Forbidden(NotFound):
    """A caller without the right to a record: rendered exactly as ``NotFound`` (no existence oracle)."""

    def __init__(self) -> None:
        super().__init__()


class MethodNotAllowed(
    HubError, slug="method-not-allowed", title="不支持该请求方法", status=405, detail="该地址不支持此请求方法"
):
    """A path that exists, asked with a method it does not take."""


class Unauthenticated(
    HubError, slug="unauthenticated", title="未认证", status=401, detail="请先登录或提供有效的访问令牌"
):
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="hub"'}


class RateLimited(HubError, slug="rate-limited", title="请求过于频繁", status=429, detail="请求过于频繁，请稍后再试"):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(-(-retry_after // 1)))  # whole seconds, rounded up
        super().__init__(retry_after=self.retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Conflict(HubError, slug="conflict", title="状态冲突", status=409, detail="记录已被修改，请刷新后重试"):
    """The record's state does not allow the request (changed meanwhile, or a step out of order)."""


class ValidationFailed(HubError, slug="validation-failed", title="参数不正确", status=422, detail="请求参数不正确"):
    def __init__(self, detail: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        if errors is not None:
            super().__init__(detail, errors=errors)
        else:
            super().__init__(detail)


class ServiceUnavailable(
    HubError, slug="service-unavailable", title="服务暂不可用", status=503, detail="服务暂不可用，请稍后再试"
):
    def __init__(self, detail: str | None = None, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(detail)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class PayloadTooLarge(
    HubError, slug="payload-too-large", title="提交的内容过大", status=413, detail="提交的内容超过允许的大小"
):
    """A request body over the limit of its path."""


class InternalError(
    HubError, slug="internal", title="系统内部错误", status=500, detail="系统内部错误，请凭请求编号联系客服"
):
    """What an unexpected exception becomes: no message, no traceback, only the request id."""


ERROR_TYPES: tuple[type[HubError], ...] = (
    NotFound,
    Unauthenticated,
    RateLimited,
    Conflict,
    ValidationFailed,
    ServiceUnavailable,
    PayloadTooLarge,
    InternalError,
)
