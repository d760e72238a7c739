"""File-level errors of the wage spreadsheets.

Each has a stable ``code`` (also in the problem's extensions) so that a web front end maps it to
413 (too large), 415 (not an acceptable spreadsheet) or 422 (readable but wrong). ``detail`` is the
Chinese message shown to the clerk. Row and cell problems are not exceptions: they are collected as
``CellError`` values and raised together as ``DeclarationRejected`` by ``Declaration.require_clean``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hub.errors import TYPE_BASE, HubError


class WagefileError(HubError):
    """Base of every refusal of an uploaded spreadsheet."""

    code: ClassVar[str] = "wagefile"
    type = TYPE_BASE + "wagefile"
    title = "文件无法受理"
    status = 422
    default_detail = "上传的文件无法受理"

    def __init_subclass__(cls, *, code: str | None = None, **kwargs: Any) -> None:
        """``class X(WagefileError, code="zip_bomb", title=…, status=…, detail=…)``: the problem type
        follows the code (``…/wagefile/zip-bomb``)."""
        if code is not None:
            cls.code = code
            kwargs.setdefault("slug", "wagefile/" + code.replace("_", "-"))
        super().__init_subclass__(**kwargs)

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, code=self.code, **extensions)


class FileTooLarge(WagefileError, code="file_too_large", title="文件过大", status=413, detail="上传的文件过大"):
    pass


class TooManyRows(
    WagefileError, code="too_many_rows", title="数据行数过多", status=413, detail="文件中的数据行数超过上限"
):
    pass


class TooManyColumns(
    WagefileError,
    code="too_many_columns",
    title="数据列数过多",
    status=413,
    detail="文件中的数据列数超过上限，请使用系统下载的模板",
):
    pass


class ZipBomb(
    WagefileError,
    code="zip_bomb",
    title="文件解压后过大",
    status=413,
    detail="文件解压后的体积或条目数异常，疑似压缩炸弹，已拒绝",
):
    pass


class NotASpreadsheet(
    WagefileError,
    code="not_a_spreadsheet",
    title="不是电子表格文件",
    status=415,
    detail="文件内容不是 Excel（xlsx、xls）或 ODS 电子表格，请上传下载的模板填写后的文件",
):
    pass


class EncryptedWorkbook(
    WagefileError,
    code="encrypted",
    title="文件设置了打开密码",
    status=415,
    detail="文件设置了打开密码，系统无法读取。请在办公软件中取消密码后重新上传",
):
    pass


class MacroWorkbook(
    WagefileError,
    code="macro_enabled",
    title="文件包含宏",
    status=415,
    detail="文件包含宏（VBA 代码），出于安全考虑不予受理。请另存为不含宏的 .xlsx 文件后重新上传",
):
    pass


class UnsafeXml(
    WagefileError,
    code="unsafe_xml",
    title="文件结构不安全",
    status=415,
    detail="文件内部包含文档类型定义或实体引用（可能是恶意构造的文件），已拒绝",
):
    pass


class MalformedWorkbook(
    WagefileError,
    code="malformed",
    title="文件已损坏",
    status=422,
    detail="文件已损坏或格式不完整，无法读取。请用办公软件打开确认后重新保存上传",
):
    pass


class MissingColumns(
    WagefileError,
    code="missing_columns",
    title="缺少必填列",
    status=422,
    detail="未找到表头行或缺少必填列，请使用系统下载的模板",
):
    pass


class NoData(WagefileError, code="no_data", title="没有数据", status=422, detail="文件中没有可申报的数据行"):
    pass


class DeclarationRejected(
    WagefileError,
    code="row_errors",
    title="申报数据有误",
    status=422,
    detail="申报文件中有错误，请按提示逐行修改后重新上传",
):
    """The file was read, but some rows or cells are wrong; nothing of it is accepted."""


WAGEFILE_ERRORS: tuple[type[WagefileError], ...] = (
    FileTooLarge,
    TooManyRows,
    TooManyColumns,
    ZipBomb,
    NotASpreadsheet,
    EncryptedWorkbook,
    MacroWorkbook,
    UnsafeXml,
    MalformedWorkbook,
    MissingColumns,
    NoData,
    DeclarationRejected,
)
