"""The problem members of the error classes, declared in their class line (``hub.errors``)."""

from __future__ import annotations

from hub.errors import TYPE_BASE, Conflict, Forbidden, HubError, NotFound, RateLimited
from hub.wagefile.errors import DeclarationRejected, WagefileError, ZipBomb


def test_the_class_line_sets_the_four_members() -> None:
    assert NotFound().problem() == {
        "type": "https://hub.example.gov.cn/problems/not-found",
        "title": "未找到",
        "status": 404,
        "detail": "请求的记录不存在或无权查看",
    }
    assert Forbidden().problem() == NotFound().problem()  # no existence oracle
    assert isinstance(Forbidden(), NotFound)
    limited = RateLimited(1.2)
    assert (limited.status, limited.type, limited.headers()) == (
        429,
        "https://hub.example.gov.cn/problems/rate-limited",
        {"Retry-After": "2"},
    )


def test_members_left_out_are_inherited_and_class_attributes_still_work() -> None:
    class StaleDraft(Conflict, detail="草稿已过期"):
        pass

    class OldStyle(HubError):
        type = TYPE_BASE + "old-style"
        title = "旧写法"
        status = 418

    assert StaleDraft().problem() == {
        "type": "https://hub.example.gov.cn/problems/conflict",
        "title": "状态冲突",
        "status": 409,
        "detail": "草稿已过期",
    }
    assert isinstance(StaleDraft(), Conflict)
    assert OldStyle("x").problem() == {
        "type": "https://hub.example.gov.cn/problems/old-style",
        "title": "旧写法",
        "status": 418,
        "detail": "x",
    }
    assert Conflict.default_detail == "记录已被修改，请刷新后重试"  # the subclasses left the parent alone


def test_a_wagefile_error_takes_its_type_from_its_code() -> None:
    bomb = ZipBomb()
    assert bomb.problem() == {
        "type": "https://hub.example.gov.cn/problems/wagefile/zip-bomb",
        "title": "文件解压后过大",
        "status": 413,
        "detail": "文件解压后的体积或条目数异常，疑似压缩炸弹，已拒绝",
        "code": "zip_bomb",
    }
    assert DeclarationRejected.type == "https://hub.example.gov.cn/problems/wagefile/row-errors"
    assert (DeclarationRejected.code, DeclarationRejected.status) == ("row_errors", 422)
    assert (WagefileError.code, WagefileError.type) == ("wagefile", "https://hub.example.gov.cn/problems/wagefile")
