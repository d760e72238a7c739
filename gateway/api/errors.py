"""The error responses every API operation documents in OpenAPI (RFC 9457 problem+json)."""

from __future__ import annotations

from typing import Any

from hub.http.problem import PROBLEM_JSON, Problem


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_JSON: {}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("未认证：缺少或无效的访问令牌"),
    404: _problem("记录不存在或无权查看（两者答复相同）"),
    422: _problem("参数不正确"),
    429: _problem("请求过于频繁（见 Retry-After）"),
    500: _problem("系统内部错误（只返回请求编号）"),
    503: _problem("服务暂不可用，或一致性令牌等待超时"),
}
